//! Bounded reads of input files. A run file, manifest, card or configuration
//! that is far larger than any real one is refused with its name, before it
//! is read into memory: `import /dev/zero`, or a manifest linked to it, must
//! fail at once rather than grow to gigabytes.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// The largest run file read (a run of every kernel, size, precision and
/// device of a large node is a few MB).
pub const RUN_FILE_LIMIT: u64 = 128 << 20;

/// The largest manifest, shader, FPGA card or configuration file read.
pub const TEXT_LIMIT: u64 = 4 << 20;

/// The text of `path`, refused when over `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    match read_raw(path, limit) {
        Ok(Some(text)) => Ok(text),
        Ok(None) => Err(too_large(path, limit)),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// As [`read_text`], but a missing file is `None`.
pub fn read_text_if_present(path: &Path, limit: u64) -> Result<Option<String>> {
    match read_raw(path, limit) {
        Ok(Some(text)) => Ok(Some(text)),
        Ok(None) => Err(too_large(path, limit)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn too_large(path: &Path, limit: u64) -> Error {
    Error::InputTooLarge {
        path: path.to_path_buf(),
        limit,
    }
}

/// `None` when the file holds more than `limit` bytes. A regular file is
/// judged by its length; anything else (a device, a pipe) by reading at
/// most one byte past the limit.
fn read_raw(path: &Path, limit: u64) -> std::io::Result<Option<String>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(None);
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_name_and_a_device_stops_at_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, "x".repeat(11)).unwrap();
        assert_eq!(read_text(&path, 11).unwrap().len(), 11);
        let err = read_text(&path, 10).unwrap_err();
        assert!(
            matches!(err, Error::InputTooLarge { limit: 10, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("big.toml"), "{err}");
        let err = read_text(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(err, Error::InputTooLarge { .. }), "{err}");
        assert_eq!(
            read_text_if_present(&dir.path().join("none"), 10).unwrap(),
            None
        );
    }
}
