//! The kernel registry and the [`Kernel`] trait.
//!
//! A kernel is data plus code: its manifest (`kernels/<name>/kernel.toml`)
//! says what it is, its sizes, units and tolerance; its Rust file
//! (`src/kernels/<name>.rs`) generates seeded inputs, runs the tuned CPU
//! implementation, verifies any backend's output against an f64 reference and
//! states the work model. Adding a kernel touches one folder in `kernels/`, one
//! file here and one line in [`BUILTIN`]; see `kernels/README.md`.

pub mod cluster;
pub mod conv2d;
pub mod fma_peak;
pub mod gemm;
pub mod hough;
pub mod kalman_fit;
pub mod manifest;
pub mod mc_transport;
pub mod mlp_jet;
pub mod nbody;
pub mod par;
pub mod pic_push;
pub mod scaffold;
pub mod stencil3d;
pub mod stream_triad;

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
pub use manifest::{Domain, KernelManifest, Metric, Param, Precision, SizeSpec, Tolerance};

/// Every kernel built into the binary: one line per kernel.
pub const BUILTIN: &[BuiltinKernel] = &[
    stream_triad::BUILTIN,
    gemm::BUILTIN,
    nbody::BUILTIN,
    mlp_jet::BUILTIN,
    stencil3d::BUILTIN,
    pic_push::BUILTIN,
    mc_transport::BUILTIN,
    kalman_fit::BUILTIN,
    hough::BUILTIN,
    fma_peak::BUILTIN,
    conv2d::BUILTIN,
    cluster::BUILTIN,
];

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

/// How a GPU backend runs a kernel: data, not code, so that adding a kernel
/// needs no backend code. The same description serves WGSL and OpenCL C:
///
/// - `buffers[i]` is WGSL `@group(0) @binding(i)` (a storage buffer,
///   `read` for [`Role::Input`], `read_write` otherwise) and OpenCL kernel
///   argument `i` (a `__global` pointer);
/// - `params` follow: in WGSL one uniform struct at `@binding(buffers.len())`
///   with the fields in this order (each 4 bytes), in OpenCL one scalar
///   argument each, in this order, after the buffers;
/// - every iteration runs `dispatches` in order; `groups` counts workgroups
///   (OpenCL: global size = groups * group_size), and `group_size` must
///   equal the shader's `@workgroup_size` / `reqd_work_group_size`.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub buffers: Vec<LaunchBuffer>,
    pub params: Vec<(&'static str, Scalar)>,
    pub dispatches: Vec<Dispatch>,
}

impl Launch {
    /// The launch of a run in `precision`: for f64, every f32 buffer holds
    /// f64 (the shader's `real`); u32 buffers and the parameters stay as
    /// they are (f32 parameters are converted by the shader).
    pub fn in_precision(mut self, precision: Precision) -> Launch {
        if precision == Precision::F64 {
            for b in &mut self.buffers {
                if b.elem == Elem::F32 {
                    b.elem = Elem::F64;
                }
            }
        }
        self
    }
}

/// What a launch buffer holds and whether it is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Uploaded from the input buffer of the same name; read only.
    Input,
    /// Zero-initialised, written by the kernel, read back as an output.
    /// Every iteration must compute the same outputs from the same inputs
    /// (iterations repeat for timing): a multi-step kernel reads an input
    /// in its first dispatch and ping-pongs between two outputs after.
    Output,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchBuffer {
    pub name: &'static str,
    pub role: Role,
    /// Length in elements.
    pub len: usize,
    pub elem: Elem,
}

impl LaunchBuffer {
    /// An f32 input of `len` elements.
    pub fn input(name: &'static str, len: usize) -> Self {
        LaunchBuffer {
            name,
            role: Role::Input,
            len,
            elem: Elem::F32,
        }
    }

    /// An f32 output of `len` elements.
    pub fn output(name: &'static str, len: usize) -> Self {
        LaunchBuffer {
            name,
            role: Role::Output,
            len,
            elem: Elem::F32,
        }
    }

    /// The same buffer holding u32 elements.
    pub fn u32(self) -> Self {
        LaunchBuffer {
            elem: Elem::U32,
            ..self
        }
    }
}

/// A scalar kernel parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar {
    U32(u32),
    F32(f32),
}

impl Scalar {
    /// The 4 bytes of the value, little-endian, as a uniform field.
    pub fn to_le_bytes(self) -> [u8; 4] {
        match self {
            Scalar::U32(v) => v.to_le_bytes(),
            Scalar::F32(v) => v.to_le_bytes(),
        }
    }
}

/// One dispatch of an entry point.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub entry: &'static str,
    pub groups: [u32; 3],
    pub group_size: [u32; 3],
}

/// The shading language of a GPU backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShaderLanguage {
    Wgsl,
    OpenClC,
}

impl ShaderLanguage {
    pub fn extension(self) -> &'static str {
        match self {
            ShaderLanguage::Wgsl => "wgsl",
            ShaderLanguage::OpenClC => "cl",
        }
    }
}

/// Largest number of workgroups a launch asks for in one dimension (the
/// WebGPU default limit).
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// `ceil(n / size)` workgroups, or an error when the grid would exceed
/// [`MAX_GROUPS_PER_DIM`].
pub fn groups_for(n: usize, size: u32) -> Result<u32> {
    let groups = n.div_ceil(size as usize);
    u32::try_from(groups)
        .ok()
        .filter(|&g| g <= MAX_GROUPS_PER_DIM)
        .ok_or_else(|| Error::InvalidValue {
            what: "launch grid".into(),
            message: format!("{n} items need {groups} workgroups of {size}, over the limit of {MAX_GROUPS_PER_DIM}"),
        })
}

/// `n` as a u32 kernel parameter, or an error naming the limit.
pub fn param_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidValue {
        what: what.into(),
        message: format!("{n} does not fit the 32-bit index of GPU kernels"),
    })
}

/// The [`BuiltinKernel`] of kernel `$name`, made by `$make`: its manifest
/// and shaders from `kernels/$name/`, its source `src/kernels/$name.rs`.
/// Invoke it from that file (paths are relative to `src/kernels/`).
#[macro_export]
macro_rules! builtin_kernel {
    ($name:literal, $make:expr) => {
        $crate::kernels::BuiltinKernel {
            name: $name,
            manifest: include_str!(concat!("../../kernels/", $name, "/kernel.toml")),
            sources: &[include_str!(concat!($name, ".rs"))],
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

/// A buffer of kernel data: f32 and u32 elements of 4 bytes, f64 elements
/// of 8. Kernels generate f32 data; an f64 run widens it (exactly, see
/// [`Inputs::in_precision`]), so both variants compute on the same values.
#[derive(Debug, Clone, PartialEq)]
pub enum Buffer {
    F32(Vec<f32>),
    U32(Vec<u32>),
    F64(Vec<f64>),
}

/// The element type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    U32,
    F64,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::F32 | Elem::U32 => 4,
            Elem::F64 => 8,
        }
    }
}

impl Buffer {
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::U32(v) => v.len(),
            Buffer::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.len() * self.elem().size()
    }

    pub fn elem(&self) -> Elem {
        match self {
            Buffer::F32(_) => Elem::F32,
            Buffer::U32(_) => Elem::U32,
            Buffer::F64(_) => Elem::F64,
        }
    }

    /// The buffer's bytes, native-endian, as a device receives them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Buffer::F32(v) => bytemuck::cast_slice(v),
            Buffer::U32(v) => bytemuck::cast_slice(v),
            Buffer::F64(v) => bytemuck::cast_slice(v),
        }
    }

    /// A buffer of `elem` from device bytes (a whole number of elements).
    pub fn from_bytes(elem: Elem, bytes: &[u8]) -> Buffer {
        match elem {
            Elem::F32 => Buffer::F32(bytemuck::pod_collect_to_vec(bytes)),
            Elem::U32 => Buffer::U32(bytemuck::pod_collect_to_vec(bytes)),
            Elem::F64 => Buffer::F64(bytemuck::pod_collect_to_vec(bytes)),
        }
    }
}

/// A real-valued output in whichever precision the run computed it, read
/// as f64 by verification.
#[derive(Debug, Clone, Copy)]
pub enum Reals<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl Reals<'_> {
    pub fn len(&self) -> usize {
        match self {
            Reals::F32(v) => v.len(),
            Reals::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as f64 (exact for both precisions).
    #[inline]
    pub fn at(&self, i: usize) -> f64 {
        match self {
            Reals::F32(v) => v[i] as f64,
            Reals::F64(v) => v[i],
        }
    }

    /// Every element as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Reals::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Reals::F64(v) => v.to_vec(),
        }
    }
}

/// Named buffers, for inputs and outputs alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buffers {
    pub entries: Vec<(&'static str, Buffer)>,
}

impl Buffers {
    pub fn push(&mut self, name: &'static str, buffer: Buffer) {
        self.entries.push((name, buffer));
    }

    pub fn get(&self, name: &str) -> Option<&Buffer> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Buffer> {
        self.entries
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b)
    }

    /// The f32 buffer `name`; a missing one is a backend bug, reported as such.
    pub fn f32(&self, name: &str) -> Result<&[f32]> {
        match self.get(name) {
            Some(Buffer::F32(v)) => Ok(v),
            other => Err(self.wrong(name, "f32", other)),
        }
    }

    /// The f64 buffer `name`.
    pub fn f64(&self, name: &str) -> Result<&[f64]> {
        match self.get(name) {
            Some(Buffer::F64(v)) => Ok(v),
            other => Err(self.wrong(name, "f64", other)),
        }
    }

    /// The real-valued buffer `name`, f32 or f64.
    pub fn real(&self, name: &str) -> Result<Reals<'_>> {
        match self.get(name) {
            Some(Buffer::F32(v)) => Ok(Reals::F32(v)),
            Some(Buffer::F64(v)) => Ok(Reals::F64(v)),
            other => Err(self.wrong(name, "f32 or f64", other)),
        }
    }

    /// The u32 buffer `name`.
    pub fn u32(&self, name: &str) -> Result<&[u32]> {
        match self.get(name) {
            Some(Buffer::U32(v)) => Ok(v),
            other => Err(self.wrong(name, "u32", other)),
        }
    }

    fn wrong(&self, name: &str, want: &str, got: Option<&Buffer>) -> Error {
        Error::Backend {
            backend: "kernel".into(),
            message: match got {
                None => format!("buffer '{name}' is missing"),
                Some(b) => format!("buffer '{name}' holds {:?}, not {want}", b.elem()),
            },
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.entries.iter().map(|(_, b)| b.bytes()).sum()
    }
}

/// A kernel's inputs for one size and seed: buffers and scalar parameters.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub size: SizeSpec,
    pub seed: u64,
    pub buffers: Buffers,
}

impl Inputs {
    /// The inputs of a run in `precision`: for f64, every f32 buffer
    /// widened to f64 (exact, so both variants compute on the same values
    /// and one f64 reference verifies both); otherwise these, not a copy.
    pub fn in_precision(&self, precision: Precision) -> std::borrow::Cow<'_, Inputs> {
        if precision != Precision::F64 {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut out = self.clone();
        for (_, b) in &mut out.buffers.entries {
            if let Buffer::F32(v) = b {
                *b = Buffer::F64(v.iter().map(|&x| x as f64).collect());
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// The precision these inputs are in: f64 when any buffer is f64.
    pub fn precision(&self) -> Precision {
        if self
            .buffers
            .entries
            .iter()
            .any(|(_, b)| b.elem() == Elem::F64)
        {
            Precision::F64
        } else {
            Precision::F32
        }
    }
}

/// The amount of work of one kernel invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Work {
    /// Floating-point operations (a fused multiply-add counts as two).
    pub flops: f64,
    /// Bytes that must move between memory and the compute units at least.
    pub bytes: f64,
    /// Items of the kernel's own unit (elements, interactions, tracks).
    pub items: f64,
    pub item_unit: String,
}

impl Work {
    pub fn metric(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Flops => self.flops,
            Metric::Bytes => self.bytes,
            Metric::Items => self.items,
        }
    }
}

/// The outcome of verifying one output against the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Largest `|out - ref| / (abs + rel * scale)`: below 1 passes.
    pub worst_ratio: f64,
    /// Largest absolute error seen.
    pub max_abs_error: f64,
    /// Largest error relative to the element's scale.
    pub max_rel_error: f64,
    /// How many output values were checked against the reference.
    pub checked: u64,
    /// Where the worst error is, in words.
    pub detail: String,
}

/// Accumulates element-wise comparisons into a [`Verdict`].
pub struct Checker {
    tol: Tolerance,
    worst_ratio: f64,
    max_abs: f64,
    max_rel: f64,
    checked: u64,
    detail: String,
}

impl Checker {
    pub fn new(tol: Tolerance) -> Self {
        Checker {
            tol,
            worst_ratio: 0.0,
            max_abs: 0.0,
            max_rel: 0.0,
            checked: 0,
            detail: String::new(),
        }
    }

    /// Compares `got` to the reference `want`; `scale` is the magnitude the
    /// relative tolerance applies to (for a sum, the sum of magnitudes).
    pub fn check(&mut self, got: f64, want: f64, scale: f64, what: impl FnOnce() -> String) {
        self.checked += 1;
        let err = (got - want).abs();
        let bound = self.tol.abs + self.tol.rel * scale.abs();
        // NaN compares false everywhere: make it the worst possible error.
        let ratio = if err.is_nan() {
            f64::INFINITY
        } else if bound > 0.0 {
            err / bound
        } else if err == 0.0 {
            0.0
        } else {
            f64::INFINITY
        };
        if err.is_finite() {
            self.max_abs = self.max_abs.max(err);
            if scale.abs() > 0.0 {
                self.max_rel = self.max_rel.max(err / scale.abs());
            }
        } else {
            self.max_abs = f64::INFINITY;
            self.max_rel = f64::INFINITY;
        }
        if ratio > self.worst_ratio || self.detail.is_empty() {
            self.worst_ratio = self.worst_ratio.max(ratio);
            self.detail = format!("{}: got {got:e}, reference {want:e}", what());
        }
    }

    pub fn finish(self) -> Verdict {
        Verdict {
            passed: self.worst_ratio <= 1.0,
            worst_ratio: self.worst_ratio,
            max_abs_error: self.max_abs,
            max_rel_error: self.max_rel,
            checked: self.checked,
            detail: self.detail,
        }
    }
}

/// A kernel prepared for the CPU backend: inputs copied into its own
/// (first-touch, thread-local) memory, ready to run repeatedly.
pub trait CpuInstance: Send {
    /// Runs the kernel once on the current rayon pool.
    fn run(&mut self);
    /// The outputs of the last run.
    fn outputs(&self) -> Buffers;
}

/// A benchmark kernel. Implementers provide every method; the registry
/// supplies the manifest and the version hash.
pub trait Kernel: Send + Sync {
    /// Seeded inputs of `size`. Same seed, same inputs, on every platform.
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs>;

    /// The work of one invocation at `size`.
    fn work(&self, size: &SizeSpec) -> Result<Work>;

    /// Bytes of host memory a run of `size` needs (inputs, outputs and the
    /// reference's working memory), to refuse sizes that do not fit.
    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64>;

    /// The tuned CPU implementation, prepared for `inputs`. Inputs come in
    /// the run's precision ([`Inputs::in_precision`]): a kernel whose
    /// manifest lists f64 must run f64 buffers in f64.
    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>>;

    /// How GPU backends run this kernel on `inputs` (see [`Launch`]),
    /// described for f32; backends derive the f64 launch with
    /// [`Launch::in_precision`].
    fn launch(&self, inputs: &Inputs) -> Result<Launch>;

    /// Verifies `outputs` against an f64 reference computed from `inputs`
    /// (the generated, f32 inputs; outputs in the run's precision, so read
    /// real outputs with [`Buffers::real`]).
    /// Kernels whose full reference is too costly check a documented,
    /// seeded subset plus a whole-output invariant (see their README).
    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict>;
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

/// A shader's text and its origin (`builtin:kernels/x/x.wgsl` or a path),
/// which compile errors name.
#[derive(Debug, Clone, PartialEq)]
pub struct ShaderSource {
    pub origin: String,
    pub text: String,
}

/// The line by which a WGSL shader with an f64 variant names its real
/// type; the f64 variant is the same text with `f64` there.
pub const WGSL_REAL_ALIAS: &str = "alias real = f32;";
/// The macro an OpenCL C source with an f64 variant tests to define its
/// `real` type as `double` (the backend compiles it with `-D`).
pub const OPENCL_F64_MACRO: &str = "HETBENCH_F64";

impl ShaderSource {
    /// The WGSL text of the variant in `precision`.
    pub fn wgsl_in_precision(&self, precision: Precision) -> Result<String> {
        match precision {
            Precision::F64 => {
                if !self.text.lines().any(|l| l.trim() == WGSL_REAL_ALIAS) {
                    return Err(Error::Unsupported {
                        backend: "wgpu".into(),
                        message: format!(
                            "{} has no f64 variant: it must declare its real type with the line \
                             `{WGSL_REAL_ALIAS}`",
                            self.origin
                        ),
                    });
                }
                Ok(self
                    .text
                    .lines()
                    .map(|l| {
                        if l.trim() == WGSL_REAL_ALIAS {
                            "alias real = f64;"
                        } else {
                            l
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n"))
            }
            _ => Ok(self.text.clone()),
        }
    }

    /// The OpenCL compiler options of the variant in `precision`.
    pub fn opencl_options(&self, precision: Precision) -> Result<String> {
        match precision {
            Precision::F64 => {
                if !self.text.contains(OPENCL_F64_MACRO) {
                    return Err(Error::Unsupported {
                        backend: "opencl".into(),
                        message: format!(
                            "{} has no f64 variant: it must define its real type under \
                             `#ifdef {OPENCL_F64_MACRO}`",
                            self.origin
                        ),
                    });
                }
                Ok(format!("-D{OPENCL_F64_MACRO}"))
            }
            _ => Ok(String::new()),
        }
    }
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
                    match std::fs::read_to_string(&path) {
                        Ok(text) => (text, path.display().to_string()),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                            builtin.manifest.to_string(),
                            format!("builtin:kernels/{}/kernel.toml", builtin.name),
                        ),
                        Err(e) => return Err(Error::io(path, e)),
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
            kernels.push(RegisteredKernel {
                manifest,
                manifest_source: source,
                kernel: (builtin.make)(),
                hash: hex::encode(hasher.finalize()),
                wgsl,
                opencl,
            });
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
        return match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(ShaderSource {
                origin: path.display().to_string(),
                text,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        };
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

/// Picks `count` distinct indices in `0..n`, spread by `seed`, always
/// including the first and the last: edge tiles are where kernels break.
pub fn sample_indices(n: usize, count: usize, seed: u64, stream: u64) -> Vec<usize> {
    if count >= n {
        return (0..n).collect();
    }
    let mut picked = std::collections::BTreeSet::new();
    picked.insert(0);
    picked.insert(n - 1);
    let mut i = 0u64;
    while picked.len() < count {
        picked.insert((crate::rng::bits(seed, stream, i) % n as u64) as usize);
        i += 1;
    }
    picked.into_iter().collect()
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

    #[test]
    fn checker_flags_nan_and_out_of_tolerance() {
        let tol = Tolerance {
            rel: 1e-3,
            abs: 0.0,
        };
        let mut c = Checker::new(tol);
        c.check(1.0005, 1.0, 1.0, || "x[0]".into());
        let v = c.finish();
        assert!(v.passed);
        assert!((v.worst_ratio - 0.5).abs() < 1e-9);

        let mut c = Checker::new(tol);
        c.check(1.0, 1.0, 1.0, || "x[0]".into());
        c.check(f64::NAN, 1.0, 1.0, || "x[1]".into());
        let v = c.finish();
        assert!(!v.passed);
        assert!(v.detail.starts_with("x[1]"), "{}", v.detail);
    }

    #[test]
    fn f64_runs_widen_f32_data_exactly_and_keep_u32() {
        let mut b = Buffers::default();
        b.push("x", Buffer::F32(vec![0.1, -3.5]));
        b.push("i", Buffer::U32(vec![7]));
        let inputs = Inputs {
            size: SizeSpec {
                name: "t".into(),
                params: Default::default(),
                source: "test".into(),
            },
            seed: 1,
            buffers: b,
        };
        assert_eq!(inputs.precision(), Precision::F32);
        let wide = inputs.in_precision(Precision::F64);
        assert_eq!(wide.precision(), Precision::F64);
        assert_eq!(wide.buffers.f64("x").unwrap(), &[0.1f32 as f64, -3.5]);
        assert_eq!(wide.buffers.u32("i").unwrap(), &[7]);
        assert_eq!(wide.buffers.get("x").unwrap().bytes(), 16);
        assert_eq!(wide.buffers.real("x").unwrap().at(0), 0.1f32 as f64);
        assert!(inputs.buffers.real("i").is_err());

        let launch = Launch {
            buffers: vec![
                LaunchBuffer::input("x", 2),
                LaunchBuffer::output("i", 1).u32(),
            ],
            params: vec![("s", Scalar::F32(2.0))],
            dispatches: vec![],
        }
        .in_precision(Precision::F64);
        assert_eq!(launch.buffers[0].elem, Elem::F64);
        assert_eq!(launch.buffers[1].elem, Elem::U32);
        assert_eq!(launch.params[0].1, Scalar::F32(2.0));
    }

    #[test]
    fn shader_variants_for_f64() {
        let wgsl = ShaderSource {
            origin: "k.wgsl".into(),
            text: "// x\nalias real = f32;\nvar<private> v: real;".into(),
        };
        assert_eq!(wgsl.wgsl_in_precision(Precision::F32).unwrap(), wgsl.text);
        assert_eq!(
            wgsl.wgsl_in_precision(Precision::F64).unwrap(),
            "// x\nalias real = f64;\nvar<private> v: real;"
        );
        let plain = ShaderSource {
            origin: "p.wgsl".into(),
            text: "var<private> v: f32;".into(),
        };
        let err = plain.wgsl_in_precision(Precision::F64).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(
            err.to_string().contains("p.wgsl has no f64 variant"),
            "{err}"
        );
        let cl = ShaderSource {
            origin: "k.cl".into(),
            text: "#ifdef HETBENCH_F64\ntypedef double real;\n#endif".into(),
        };
        assert_eq!(cl.opencl_options(Precision::F64).unwrap(), "-DHETBENCH_F64");
        assert_eq!(cl.opencl_options(Precision::F32).unwrap(), "");
        assert!(plain.opencl_options(Precision::F64).is_err());
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

    #[test]
    fn sample_indices_include_edges_and_are_distinct() {
        let s = sample_indices(1000, 10, 1, 2);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0], 0);
        assert_eq!(s[9], 999);
        assert_eq!(sample_indices(5, 10, 1, 2), vec![0, 1, 2, 3, 4]);
    }
}
