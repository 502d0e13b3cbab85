//! JSON run files: written atomically, read with their schema checked.
//!
//! A run file is rewritten after every result (as hyperfine rewrites its
//! exports) so that it is always complete up to the last measurement; each
//! write goes to a temporary file in the same directory, is synced, and is
//! renamed over the old one, so a crash leaves the old or the new file,
//! never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::store::record::{RUN_FILE_SCHEMA, RunFile};

/// `dir/<run-id>.json`.
pub fn run_file_path(dir: &Path, run_id: &str) -> PathBuf {
    dir.join(format!("{run_id}.json"))
}

/// Writes `file` to `path` atomically.
pub fn write_atomic(path: &Path, file: &RunFile) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let bytes = serde_json::to_vec_pretty(file)?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Reads and validates a run file.
pub fn read(path: &Path) -> Result<RunFile> {
    let text = crate::input::read_text(path, crate::input::RUN_FILE_LIMIT)?;
    parse(&text, path)
}

/// Parses a run file's text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<RunFile> {
    let bad = |message: String| Error::RunFile {
        path: path.to_path_buf(),
        message,
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "not valid JSON (truncated or corrupt?) at line {} column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    match value.get("schema_version").and_then(|v| v.as_u64()) {
        Some(v) if v == RUN_FILE_SCHEMA as u64 => {}
        Some(v) => {
            return Err(bad(format!(
                "unknown run-file schema version {v}; this hetbench reads version {RUN_FILE_SCHEMA}"
            )));
        }
        None => {
            return Err(bad(
                "not a hetbench run file: no numeric 'schema_version' field".into(),
            ));
        }
    }
    // Field by field, so that a malformed record is named by its index.
    let run = serde_json::from_value(value.get("run").cloned().unwrap_or_default())
        .map_err(|e| bad(format!("invalid 'run': {e}")))?;
    let results = match value.get("results") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                serde_json::from_value(item.clone())
                    .map_err(|e| bad(format!("invalid results[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(bad("no 'results' array".into())),
    };
    let file = RunFile {
        schema_version: RUN_FILE_SCHEMA,
        run,
        results,
    };
    if let Err(message) = validate(&file) {
        return Err(bad(message));
    }
    Ok(file)
}

/// Checks what serde cannot: ids, consistency and finite numbers.
fn validate(file: &RunFile) -> std::result::Result<(), String> {
    if uuid::Uuid::parse_str(&file.run.run_id).is_err() {
        return Err(format!("run.run_id '{}' is not a UUID", file.run.run_id));
    }
    let mut keys = std::collections::BTreeSet::new();
    for (i, r) in file.results.iter().enumerate() {
        if r.run_id != file.run.run_id {
            return Err(format!(
                "results[{i}].run_id '{}' differs from run.run_id '{}'",
                r.run_id, file.run.run_id
            ));
        }
        if r.kernel.is_empty() || r.device.is_empty() {
            return Err(format!("results[{i}]: kernel and device must be set"));
        }
        if let Err(why) = r.check_figures() {
            return Err(format!(
                "results[{i}] ({} {} {} on {} {}).{why}",
                r.kernel, r.size, r.precision, r.backend, r.device
            ));
        }
        if !keys.insert(r.key()) {
            return Err(format!(
                "results[{i}] repeats kernel {}, size {}, backend {}, device {}",
                r.kernel, r.size, r.backend, r.device
            ));
        }
    }
    Ok(())
}
