//! The kernel contract: what a kernel is to the rest of hetbench.
//!
//! A kernel is data plus code. Its manifest (`kernels/<name>/kernel.toml`,
//! [`manifest`]) says what it is, its sizes, units and tolerance; its module
//! in the catalogue (`src/kernels/<name>.rs`) implements [`Kernel`]:
//! seeded inputs ([`buffer`]), the tuned CPU implementation, how GPU
//! backends launch it ([`launch`], as data), verification against an f64
//! reference ([`verify`]), the work model, and optionally its fixed-point
//! path for the FPGA emulation. Shader texts and their precision variants
//! are in [`shader`]. Nothing here knows any particular kernel.

pub mod buffer;
pub mod fpga;
pub mod launch;
pub mod manifest;
pub mod shader;
pub mod verify;

use serde::{Deserialize, Serialize};

use crate::error::Result;
pub use buffer::{Buffer, Buffers, Elem, Inputs, Reals};
pub use fpga::FpgaKernel;
pub use launch::{
    Arg, Binding, Chunk, Dispatch, Launch, LaunchBuffer, MAX_GROUPS_PER_DIM,
    MAX_UNIFORM_BINDING_BYTES, Role, WINDOW_ALIGN, Window, binding_chunks, grid_stride_groups,
    groups_for, max_binding_bytes, max_binding_elems, param_u32,
};
pub use manifest::{Domain, KernelManifest, Metric, Param, Precision, SizeSpec, Tolerance};
pub use shader::{OPENCL_F64_MACRO, ShaderLanguage, ShaderSource, WGSL_REAL_ALIAS};
pub use verify::{Checker, Verdict, sample_indices};

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
    /// [`Launch::in_precision`]. It must read only `inputs.size` and
    /// `inputs.seed`, never the data: runs are planned, and launches
    /// checked against each device's limits, before inputs are generated.
    fn launch(&self, inputs: &Inputs) -> Result<Launch>;

    /// Verifies `outputs` against an f64 reference computed from `inputs`
    /// (the generated, f32 inputs; outputs in the run's precision, so read
    /// real outputs with [`Buffers::real`]).
    /// Kernels whose full reference is too costly check a documented,
    /// seeded subset plus a whole-output invariant (see their README).
    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict>;
    /// The kernel's fixed-point path for the FPGA emulation, if it has one
    /// (kept in the kernel's own module). Without one the `fpga-emu`
    /// backend skips the kernel with the reason.
    fn fpga(&self) -> Option<&dyn FpgaKernel> {
        None
    }
    /// Why the kernel has no fixed-point path, for the `fpga-emu` backend's
    /// skip message (`None`: none given).
    fn fpga_absent_reason(&self) -> Option<&'static str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::manifest::SizeSpec;

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
            params: vec![("s", Arg::F32(2.0))],
            dispatches: vec![],
        }
        .in_precision(Precision::F64);
        assert_eq!(launch.buffers[0].elem, Elem::F64);
        assert_eq!(launch.buffers[1].elem, Elem::U32);
        assert_eq!(launch.params[0].1, Arg::F32(2.0));
    }
}
