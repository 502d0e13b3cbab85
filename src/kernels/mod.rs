//! The kernel catalogue: one module per kernel and the [`Registry`] of
//! them.
//!
//! Each module implements the [`Kernel`](crate::kernel::Kernel) contract
//! for one kernel (inputs, reference, CPU path, GPU launch, verification,
//! work model and, where it has one, its fixed-point path for the FPGA
//! emulation); its manifest and shaders are in `kernels/<name>/`. Adding a
//! kernel touches one folder in `kernels/`, one module here and one line in
//! [`BUILTIN`]; see `kernels/README.md`.

pub mod par;
pub mod scaffold;
#[cfg(test)]
mod testing;
pub mod tiling;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kernel::{
    Kernel, KernelManifest, Precision, ShaderLanguage, ShaderSource, SizeSpec, Work,
};

/// Declares each kernel's module and lists it in [`BUILTIN`], in this
/// order (the order of `hetbench list` and of a run's jobs).
macro_rules! catalogue {
    ($($name:ident,)*) => {
        $(pub mod $name;)*
        /// Every kernel built into the binary.
        pub const BUILTIN: &[BuiltinKernel] = &[$($name::BUILTIN),*];
    };
}

// The registry: one line per kernel.
catalogue! {
    stream_triad,
    gemm,
    nbody,
    mlp_jet,
    stencil3d,
    pic_push,
    mc_transport,
    kalman_fit,
    hough,
    fma_peak,
    conv2d,
    cluster,
}

/// What the registry needs to know of a built-in kernel.
pub struct BuiltinKernel {
    pub name: &'static str,
    /// The manifest text, embedded with `include_str!`.
    pub manifest: &'static str,
    /// Every source that defines the kernel's behaviour (its Rust file):
    /// they enter the kernel's version hash with the manifest and shaders,
    /// so that a changed kernel never compares silently with its old results.
    pub sources: &'static [&'static str],
    /// The WGSL compute shader (`kernels/<name>/<name>.wgsl`), if any.
    pub wgsl: Option<&'static str>,
    /// The OpenCL C source (`kernels/<name>/<name>.cl`), if any.
    pub opencl: Option<&'static str>,
    pub make: fn() -> Box<dyn Kernel>,
}

/// The [`BuiltinKernel`] of kernel `$name`, made by `$make`: its manifest
/// and shaders from `kernels/$name/`, its sources `src/kernels/$name.rs`
/// and the submodules listed (`["gemm/fpga.rs"]`: paths relative to
/// `src/kernels/`). Invoke it from the kernel's file.
#[macro_export]
macro_rules! builtin_kernel {
    ($name:literal, $make:expr) => {
        $crate::builtin_kernel!($name, $make, [])
    };
    ($name:literal, $make:expr, [$($sub:literal),*]) => {
        $crate::kernels::BuiltinKernel {
            name: $name,
            manifest: include_str!(concat!("../../kernels/", $name, "/kernel.toml")),
            sources: &[include_str!(concat!($name, ".rs")) $(, include_str!($sub))*],
            wgsl: Some(include_str!(concat!(
                "../../kernels/",
                $name,
                "/",
                $name,
                ".wgsl"
            ))),
            opencl: Some(include_str!(concat!(
                "../../kernels/",
                $name,
                "/",
                $name,
                ".cl"
            ))),
            make: || Box::new($make),
        }
    };
}

/// A kernel in the registry: manifest, implementation and version hash.
pub struct RegisteredKernel {
    pub manifest: KernelManifest,
    /// Where the manifest was read from (`builtin:...` or a file path).
    pub manifest_source: String,
    pub kernel: Box<dyn Kernel>,
    /// SHA-256 of the manifest, the shaders and every source of the kernel, hex.
    pub hash: String,
    /// WGSL source and where it came from, if the kernel has one.
    pub wgsl: Option<ShaderSource>,
    /// OpenCL C source and where it came from, if the kernel has one.
    pub opencl: Option<ShaderSource>,
}

impl RegisteredKernel {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The size `name`, or an error listing the valid ones.
    pub fn size(&self, name: &str) -> Result<SizeSpec> {
        self.manifest
            .size(name, &self.manifest_source)
            .ok_or_else(|| Error::UnknownName {
                what: "size",
                name: name.to_string(),
                valid: self.manifest.size_names().join(", "),
            })
    }

    /// The shader for `language`, or why there is none.
    pub fn shader(&self, language: ShaderLanguage) -> std::result::Result<&ShaderSource, String> {
        match language {
            ShaderLanguage::Wgsl => self.wgsl.as_ref(),
            ShaderLanguage::OpenClC => self.opencl.as_ref(),
        }
        .ok_or_else(|| {
            format!(
                "kernel '{}' has no {} source ({} has no {}.{})",
                self.name(),
                match language {
                    ShaderLanguage::Wgsl => "WGSL",
                    ShaderLanguage::OpenClC => "OpenCL C",
                },
                Path::new(&self.manifest_source)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("kernels/{}", self.name())),
                self.name(),
                language.extension()
            )
        })
    }

    /// The work of one invocation at `size` in `precision`. Work models
    /// count 4-byte values; in an f64 variant every real moves in 8 bytes,
    /// so its bytes double (kernels that list f64 count only real data).
    pub fn work(&self, size: &SizeSpec, precision: Precision) -> Result<Work> {
        let mut work = self.kernel.work(size)?;
        if precision == Precision::F64 {
            work.bytes *= 2.0;
        }
        Ok(work)
    }

    /// Host bytes a run of `size` in `precision` needs (see [`Kernel::memory_bytes`]).
    pub fn memory_bytes(&self, size: &SizeSpec, precision: Precision) -> Result<u64> {
        let bytes = self.kernel.memory_bytes(size)?;
        Ok(if precision == Precision::F64 {
            bytes.saturating_mul(2)
        } else {
            bytes
        })
    }

    /// Checks every size of the manifest against the kernel, so that a bad
    /// size is refused when the registry loads (`hetbench list`), naming
    /// the manifest, the size and the parameter, not when it is measured.
    /// The kernel parses the size as it would for a run: its work, its
    /// memory and its launch (which reads only the size and the seed).
    /// Every size must name `tiny`'s parameters, each of which the kernel
    /// reads ([`Self::check_tiny_params_are_read`]).
    fn check_sizes(&self) -> Result<()> {
        let tiny = self.size("tiny")?;
        self.check_tiny_params_are_read(&tiny)?;
        for name in self.manifest.size_names() {
            let size = self.size(&name)?;
            if let Some(key) = size.params.keys().find(|k| !tiny.params.contains_key(*k)) {
                return Err(self.stray_param(
                    &format!("sizes.{name}.{key}"),
                    format!(
                        "not a parameter of this kernel (its parameters: {})",
                        tiny.params.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            self.kernel.work(&size)?;
            self.kernel.memory_bytes(&size)?;
            let inputs = crate::kernel::Inputs {
                size,
                seed: 0,
                buffers: Default::default(),
            };
            self.kernel.launch(&inputs)?;
        }
        Ok(())
    }

    /// A parameter no method of the kernel reads (a typo, `m = 5` beside
    /// `n`) would be stored with every result yet change nothing: refused.
    /// On `tiny` (milliseconds to generate) each parameter is taken away in
    /// turn, and one whose absence the kernel does not notice is stray.
    fn check_tiny_params_are_read(&self, tiny: &SizeSpec) -> Result<()> {
        for key in tiny.params.keys() {
            let mut without = tiny.clone();
            without.params.remove(key);
            let inputs = crate::kernel::Inputs {
                size: without.clone(),
                seed: 0,
                buffers: Default::default(),
            };
            let read = self.kernel.work(&without).is_err()
                || self.kernel.memory_bytes(&without).is_err()
                || self.kernel.launch(&inputs).is_err()
                || self.kernel.generate(&without, 0).is_err();
            if !read {
                return Err(self.stray_param(
                    &format!("sizes.tiny.{key}"),
                    "the kernel never reads this parameter (misspelt?)".into(),
                ));
            }
        }
        Ok(())
    }

    fn stray_param(&self, key: &str, message: String) -> Error {
        Error::ManifestValue {
            path: self.manifest_source.clone(),
            message: format!("{key}: {message}"),
        }
    }

    /// Short form of the version hash, as shown in tables.
    pub fn short_hash(&self) -> &str {
        &self.hash[..12]
    }
}

/// All kernels known to this binary.
pub struct Registry {
    pub kernels: Vec<RegisteredKernel>,
}

impl Registry {
    /// The built-in kernels with their embedded manifests.
    pub fn builtin() -> Result<Self> {
        Self::load(None)
    }

    /// The built-in kernels, with manifests read from `dir/<name>/kernel.toml`
    /// where `dir` is given and holds one. A folder in `dir` with a manifest
    /// but no registered implementation is an error.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut kernels = Vec::with_capacity(BUILTIN.len());
        for builtin in BUILTIN {
            let (text, source) = match dir {
                Some(dir) => {
                    let path = dir.join(builtin.name).join("kernel.toml");
                    match crate::input::read_text_if_present(&path, crate::input::TEXT_LIMIT)? {
                        Some(text) => (text, path.display().to_string()),
                        None => (
                            builtin.manifest.to_string(),
                            format!("builtin:kernels/{}/kernel.toml", builtin.name),
                        ),
                    }
                }
                None => (
                    builtin.manifest.to_string(),
                    format!("builtin:kernels/{}/kernel.toml", builtin.name),
                ),
            };
            let manifest = KernelManifest::parse(&text, &source)?;
            if manifest.name != builtin.name {
                return Err(Error::ManifestValue {
                    path: source,
                    message: format!(
                        "name: '{}' differs from the kernel's folder '{}'",
                        manifest.name, builtin.name
                    ),
                });
            }
            let wgsl = load_shader(dir, builtin.name, ShaderLanguage::Wgsl, builtin.wgsl)?;
            let opencl = load_shader(dir, builtin.name, ShaderLanguage::OpenClC, builtin.opencl)?;
            let mut hasher = Sha256::new();
            hasher.update(text.as_bytes());
            for src in builtin.sources {
                hasher.update(src.as_bytes());
            }
            for shader in [&wgsl, &opencl].into_iter().flatten() {
                hasher.update(shader.text.as_bytes());
            }
            let registered = RegisteredKernel {
                manifest,
                manifest_source: source,
                kernel: (builtin.make)(),
                hash: hex::encode(hasher.finalize()),
                wgsl,
                opencl,
            };
            registered.check_sizes()?;
            kernels.push(registered);
        }
        if let Some(dir) = dir {
            check_no_unregistered(dir)?;
        }
        Ok(Registry { kernels })
    }

    pub fn names(&self) -> Vec<&str> {
        self.kernels.iter().map(|k| k.name()).collect()
    }

    /// The kernel `name`, or an error listing the valid names.
    pub fn get(&self, name: &str) -> Result<&RegisteredKernel> {
        self.kernels
            .iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::UnknownName {
                what: "kernel",
                name: name.to_string(),
                valid: self.names().join(", "),
            })
    }
}

/// The shader of `name` in `language`. When `dir` holds the kernel's
/// folder, that folder is the whole kernel: its shader or none (a missing
/// file then means no shader, reported as such by the backends). Otherwise
/// the built-in shader.
fn load_shader(
    dir: Option<&Path>,
    name: &str,
    language: ShaderLanguage,
    builtin: Option<&'static str>,
) -> Result<Option<ShaderSource>> {
    let file = format!("{name}/{name}.{}", language.extension());
    if let Some(dir) = dir.filter(|d| d.join(name).join("kernel.toml").is_file()) {
        let path = dir.join(&file);
        let text = crate::input::read_text_if_present(&path, crate::input::TEXT_LIMIT)?;
        return Ok(text.map(|text| ShaderSource {
            origin: path.display().to_string(),
            text,
        }));
    }
    Ok(builtin.map(|text| ShaderSource {
        origin: format!("builtin:kernels/{file}"),
        text: text.to_string(),
    }))
}

fn check_no_unregistered(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let manifest = entry.path().join("kernel.toml");
        let name = entry.file_name().to_string_lossy().to_string();
        if manifest.is_file() && !BUILTIN.iter().any(|b| b.name == name) {
            return Err(Error::ManifestValue {
                path: manifest.display().to_string(),
                message: format!(
                    "no kernel '{name}' is registered in this binary (src/kernels/mod.rs, BUILTIN)"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_has_the_core_kernels_with_distinct_hashes() {
        let reg = Registry::builtin().unwrap();
        assert_eq!(reg.names()[..3], ["stream_triad", "gemm", "nbody"]);
        let hashes: std::collections::BTreeSet<_> = reg.kernels.iter().map(|k| &k.hash).collect();
        assert_eq!(hashes.len(), reg.kernels.len());
        assert!(reg.kernels.iter().all(|k| k.hash.len() == 64));
    }

    #[test]
    fn unknown_kernel_lists_valid_names() {
        let reg = Registry::builtin().unwrap();
        let err = reg.get("gemmm").err().unwrap().to_string();
        assert!(
            err.starts_with("unknown kernel 'gemmm'; valid kernels: stream_triad, gemm, nbody"),
            "{err}"
        );
    }

    /// Every kernel with an f64 variant: its CPU f64 output passes the f64
    /// tolerance, and its f32 output fails it (so that the tolerance tells
    /// a real f64 computation from an f32 one). Every such kernel's shaders
    /// declare their f64 variant.
    #[test]
    fn f64_variants_compute_in_f64() {
        let reg = Registry::builtin().unwrap();
        let mut seen = Vec::new();
        for k in reg
            .kernels
            .iter()
            .filter(|k| k.manifest.precisions.contains(&Precision::F64))
        {
            let size = k.size("tiny").unwrap();
            let inputs = k.kernel.generate(&size, 5).unwrap();
            let tol = k.manifest.tolerance_for(Precision::F64);
            for (p, should_pass) in [(Precision::F64, true), (Precision::F32, false)] {
                let mut cpu = k.kernel.cpu(&inputs.in_precision(p)).unwrap();
                cpu.run();
                let out = cpu.outputs();
                let v = k.kernel.verify(&inputs, &out, tol).unwrap();
                assert_eq!(v.passed, should_pass, "{} {}: {v:?}", k.name(), p.as_str());
            }
            let wgsl = k.shader(ShaderLanguage::Wgsl).unwrap();
            assert!(
                wgsl.wgsl_in_precision(Precision::F64).is_ok(),
                "{}",
                wgsl.origin
            );
            let cl = k.shader(ShaderLanguage::OpenClC).unwrap();
            assert!(cl.opencl_options(Precision::F64).is_ok(), "{}", cl.origin);
            seen.push(k.name().to_string());
        }
        assert!(
            [
                "stream_triad",
                "gemm",
                "nbody",
                "fma_peak",
                "pic_push",
                "stencil3d"
            ]
            .iter()
            .all(|n| seen.iter().any(|s| s == n)),
            "{seen:?}"
        );
    }
}
