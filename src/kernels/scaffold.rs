//! `hetbench new-kernel NAME --domain D`: writes the skeleton of a kernel
//! into the source tree (manifest, WGSL, OpenCL C, README, Rust file) and
//! registers it, so that a developer starts from a kernel that compiles,
//! runs on every backend and fails verification until it is written.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::kernel::Domain;

const MANIFEST: &str = include_str!("template/kernel.toml.tmpl");
const WGSL: &str = include_str!("template/kernel.wgsl.tmpl");
const OPENCL: &str = include_str!("template/kernel.cl.tmpl");
const README: &str = include_str!("template/README.md.tmpl");
const RUST: &str = include_str!("template/kernel.rs.tmpl");

/// `mc_transport` -> `McTransport`.
pub fn type_name(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn render(template: &str, name: &str, domain: Domain) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{Name}}", &type_name(name))
        .replace("{{domain}}", domain.as_str())
}

fn bad(message: String) -> Error {
    Error::InvalidValue {
        what: "new-kernel".into(),
        message,
    }
}

/// Writes kernel `name` under `root` (the source tree) and registers it in
/// `src/kernels/mod.rs` (one line in `catalogue!`). Returns the files written. Nothing is overwritten.
pub fn new_kernel(root: &Path, name: &str, domain: Domain) -> Result<Vec<PathBuf>> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_');
    if !valid {
        return Err(bad(format!(
            "'{name}' is not a kernel name: lowercase letters, digits and '_', starting with a letter"
        )));
    }
    let registry = root.join("src/kernels/mod.rs");
    let text = std::fs::read_to_string(&registry).map_err(|e| {
        bad(format!(
            "{}: {e}; run this in the hetbench source tree or pass --root",
            registry.display()
        ))
    })?;
    let folder = root.join("kernels").join(name);
    let rust = root.join("src/kernels").join(format!("{name}.rs"));
    if folder.exists() || rust.exists() || registered(&text, name) {
        return Err(bad(format!(
            "a kernel '{name}' exists already ({})",
            folder.display()
        )));
    }
    let files = [
        (folder.join("kernel.toml"), MANIFEST),
        (folder.join(format!("{name}.wgsl")), WGSL),
        (folder.join(format!("{name}.cl")), OPENCL),
        (folder.join("README.md"), README),
        (rust.clone(), RUST),
    ];
    let updated = register(&text, name).ok_or_else(|| {
        bad(format!(
            "{}: could not find the `catalogue! {{ ... }}` list to register '{name}'",
            registry.display()
        ))
    })?;
    std::fs::create_dir_all(&folder).map_err(|e| Error::io(&folder, e))?;
    let mut written = Vec::new();
    for (path, template) in files {
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)?;
            f.write_all(render(template, name, domain).as_bytes())
        };
        write().map_err(|e| Error::io(&path, e))?;
        written.push(path);
    }
    std::fs::write(&registry, updated).map_err(|e| Error::io(&registry, e))?;
    written.push(registry);
    Ok(written)
}

/// `text` (src/kernels/mod.rs) with the line `    name,` at the end of
/// the `catalogue!` list, which declares the module and lists it in
/// `BUILTIN`; `None` where there is no such list.
pub fn register(text: &str, name: &str) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let start = lines.iter().position(|l| l.trim_end() == "catalogue! {")?;
    let end = start + lines[start..].iter().position(|l| l.trim_end() == "}")?;
    lines.insert(end, format!("    {name},"));
    let mut out = lines.join("\n");
    out.push('\n');
    Some(out)
}

/// Whether `name` is in the `catalogue!` list of `text`.
fn registered(text: &str, name: &str) -> bool {
    text.lines()
        .skip_while(|l| l.trim_end() != "catalogue! {")
        .take_while(|l| l.trim_end() != "}")
        .any(|l| l.trim() == format!("{name},"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_registration() {
        assert_eq!(type_name("mc_transport"), "McTransport");
        let list = "pub mod par;\n\ncatalogue! {\n    a,\n    b,\n}\n\nfn f() {\n}\n";
        let r = register(list, "c").unwrap();
        assert!(
            r.contains("catalogue! {\n    a,\n    b,\n    c,\n}\n\nfn f() {\n}\n"),
            "{r}"
        );
        assert!(registered(&r, "c") && registered(&r, "a") && !registered(&r, "par"));
        assert!(register("no registry here", "c").is_none());
    }

    #[test]
    fn writes_a_kernel_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("src/kernels")).unwrap();
        std::fs::write(
            root.join("src/kernels/mod.rs"),
            "catalogue! {\n    gemm,\n}\n",
        )
        .unwrap();
        let files = new_kernel(root, "saxpy", Domain::Micro).unwrap();
        assert_eq!(files.len(), 6);
        let manifest = std::fs::read_to_string(root.join("kernels/saxpy/kernel.toml")).unwrap();
        let m = crate::kernel::KernelManifest::parse(&manifest, "saxpy").unwrap();
        assert_eq!(m.domain, Domain::Micro);
        let rust = std::fs::read_to_string(root.join("src/kernels/saxpy.rs")).unwrap();
        assert!(rust.contains("pub struct Saxpy;") && !rust.contains("{{"));
        let wgsl = std::fs::read_to_string(root.join("kernels/saxpy/saxpy.wgsl")).unwrap();
        ::wgpu::naga::front::wgsl::parse_str(&wgsl).unwrap();
        let registry = std::fs::read_to_string(root.join("src/kernels/mod.rs")).unwrap();
        assert!(
            registry.contains("catalogue! {\n    gemm,\n    saxpy,\n}\n"),
            "{registry}"
        );
        let err = new_kernel(root, "saxpy", Domain::Ml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exists already"), "{err}");
        assert!(new_kernel(root, "Bad-Name", Domain::Ml).is_err());
    }
}
