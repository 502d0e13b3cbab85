//! `fma_peak`: the compute ceiling of a device's roofline.
//!
//! Each of n items runs 16 independent chains of x = a x + b for `iters`
//! iterations in registers and writes the sum of its chains, so that nothing
//! can be optimised away; a = 1 - 2^-10 and b = 2^-10 are parameters (the
//! compiler cannot fold them), the fixed point is 1. Chain j of item i starts
//! at x0[i] + j/8. Work: 2 FLOP per FMA, 2 x 16 x iters per item.
//!
//! In f32 or f64: the f64 variant gives the double-precision peak.
//!
//! The CPU implementation runs 16 items per vector (AVX-512 width) and 8
//! chains at a time, 8 independent vector FMA chains, enough to fill two FMA
//! pipes of 4 cycles' latency; compiled for AVX-512, AVX2+FMA or baseline
//! x86-64 and picked at run time.
//!
//! Verification: the closed form x_K = 1 + a^K (x_0 - 1) of every chain in
//! f64, summed; every item is checked.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, grid_stride_groups, param_u32,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::Real;
use crate::multiversion;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("fma_peak", FmaPeak, ["fma_peak/fpga.rs"]);

/// Independent chains per item.
pub const CHAINS: usize = 16;
/// The recurrence's factor and offset (fixed point b / (1 - a) = 1).
pub const A: f32 = 1.0 - 1.0 / 1024.0;
pub const B: f32 = 1.0 / 1024.0;
const MAX_N: usize = 1 << 30;
const MAX_ITERS: usize = 1 << 24;
/// Items per vector on the CPU.
const LANES: usize = 16;
/// Chains run together on the CPU.
const GROUP: usize = 8;
/// Items per rayon task.
const ITEMS_PER_TASK: usize = 256;
/// GPU workgroup size: two warps, so that a grid of 64-item groups spreads
/// over all 132 SMs of an H200 from n = 8448 and 32 groups (2048
/// threads) can be resident on each.
const GROUP_SIZE: u32 = 64;
/// Most GPU workgroups, for the grid-stride loop beyond one item per
/// invocation: 15 whole waves of an H200 (132 SMs x 32 resident groups of
/// 64), within the 65,535 groups of the portable limits.
const MAX_GROUPS: u32 = 15 * 132 * 32;

pub struct FmaPeak;

fn params(size: &SizeSpec) -> Result<(usize, usize)> {
    let n = size.usize("n", MAX_N)?;
    let iters = size.usize("iters", MAX_ITERS)?;
    if !iters.is_multiple_of(4) {
        return Err(Error::ManifestValue {
            path: size.source.clone(),
            message: format!("iters: {iters} is not a multiple of 4"),
        });
    }
    Ok((n, iters))
}

/// The start of chain `j` from the item's `x0`, in f32 as every backend
/// computes it.
fn start(x0: f32, j: usize) -> f32 {
    x0 + j as f32 * 0.125
}

impl Kernel for FmaPeak {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let (n, _) = params(size)?;
        let mut buffers = Buffers::default();
        // Starts in [-4, -2): chains approach 1 from below, far from it.
        buffers.push(
            "x0",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, n, -4.0, -2.0)),
        );
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let (n, iters) = params(size)?;
        let fmas = (n * CHAINS * iters) as f64;
        Ok(Work {
            flops: 2.0 * fmas,
            bytes: 8.0 * n as f64,
            items: fmas,
            item_unit: "FMAs".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        Ok(24 * params(size)?.0 as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, fma_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let (n, iters) = params(&inputs.size)?;
        Ok(Launch {
            buffers: vec![LaunchBuffer::input("x0", n), LaunchBuffer::output("y", n)],
            params: vec![
                ("n", Arg::U32(param_u32(n, "n")?)),
                ("iters", Arg::U32(param_u32(iters, "iters")?)),
                ("a", Arg::F32(A)),
                ("b", Arg::F32(B)),
            ],
            dispatches: vec![Dispatch {
                entry: "fma_peak",
                groups: [grid_stride_groups(n, GROUP_SIZE).min(MAX_GROUPS), 1, 1],
                group_size: [GROUP_SIZE, 1, 1],
                chunk: None,
            }],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let (n, iters) = params(&inputs.size)?;
        let x0 = inputs.buffers.f32("x0")?;
        let y = outputs.real("y")?;
        let mut checker = Checker::new(tol);
        if y.len() != n {
            checker.check(y.len() as f64, n as f64, 0.0, || "length of y".into());
            return Ok(checker.finish());
        }
        let ak = (A as f64).powi(iters as i32);
        let fixed = B as f64 / (1.0 - A as f64);
        let reference = |i: usize| {
            (0..CHAINS).fold((0.0, 0.0), |(sum, scale), j| {
                let s = start(x0[i], j) as f64;
                (
                    sum + fixed + ak * (s - fixed),
                    scale + s.abs().max(fixed.abs()),
                )
            })
        };
        // Every item: the worst one is recorded with its values.
        let worst = (0..n)
            .into_par_iter()
            .map(|i| {
                let (want, scale) = reference(i);
                let err = (y.at(i) - want).abs();
                let bound = (tol.abs + tol.rel * scale).max(f64::MIN_POSITIVE);
                (
                    i,
                    if err.is_nan() {
                        f64::INFINITY
                    } else {
                        err / bound
                    },
                )
            })
            .reduce(|| (0, -1.0), |a, b| if b.1 > a.1 { b } else { a })
            .0;
        let (want, scale) = reference(worst);
        checker.check(y.at(worst), want, scale, || format!("y[{worst}]"));
        let mut verdict = checker.finish();
        verdict.checked = n as u64;
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::FmaFpga)
    }
}

/// The kernel in any [`crate::fpga::Scalar`], step by step (the
/// verification's closed form needs a^K, which fixed point does not run):
/// chain j of an item starts at `x0 + j/8`, each step is `x = a x + b` with
/// the product and sum exact in the wide type and one cast (HLS's
/// `x = a * x + b`), and the 16 chains are summed pairwise, as the shaders
/// sum them (in fixed point the sums of equal formats are exact unless
/// they overflow).
pub fn reference_generic<S: crate::fpga::Scalar>(x0: &[S], iters: usize, a: S, b: S) -> Vec<S> {
    x0.par_iter()
        .map(|&x0| {
            let mut c: [S; CHAINS] =
                std::array::from_fn(|j| x0.add(S::from_f64(j as f64 * 0.125)));
            for _ in 0..iters {
                for x in &mut c {
                    *x = S::from_wide(S::mul_acc(b.widen(), a, *x));
                }
            }
            let mut w = CHAINS;
            while w > 1 {
                w /= 2;
                for j in 0..w {
                    c[j] = c[2 * j].add(c[2 * j + 1]);
                }
            }
            c[0]
        })
        .collect()
}

struct FmaCpu<T> {
    n: usize,
    iters: usize,
    x0: Vec<T>,
    y: Vec<T>,
}

fn fma_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let (n, iters) = params(&inputs.size)?;
    let mut x0 = T::input(inputs, "x0")?.to_vec();
    x0.resize(n.next_multiple_of(LANES), T::ZERO);
    Ok(Box::new(FmaCpu {
        n,
        iters,
        x0,
        y: vec![T::ZERO; n.next_multiple_of(LANES)],
    }))
}

/// One step of `LANES` chains.
#[inline(always)]
fn step<T: Real, const FMA: bool>(v: [T; LANES], a: T, b: T) -> [T; LANES] {
    v.map(|x| T::mul_add::<FMA>(x, a, b))
}

/// Items `x0.len()` (a multiple of [`LANES`]) into `y`. The [`GROUP`]
/// accumulators of a group are separate values, one vector register each
/// in f32, two in f64 (an array of them would live in memory).
#[inline(always)]
fn items_body<T: Real, const FMA: bool>(x0: &[T], y: &mut [T], iters: usize, a: T, b: T) {
    const _: () = assert!(GROUP == 8 && CHAINS == 2 * GROUP);
    for (x0, y) in x0.chunks_exact(LANES).zip(y.chunks_exact_mut(LANES)) {
        let x0: [T; LANES] = std::array::from_fn(|l| x0[l]);
        let mut sum = [[T::ZERO; LANES]; 2];
        for (g, sum) in sum.iter_mut().enumerate() {
            // Chain j starts at x0 + j/8 (exact in f32 and f64).
            let init = |c: usize| x0.map(|x| x + T::from_f32((g * GROUP + c) as f32 * 0.125));
            let (mut c0, mut c1, mut c2, mut c3) = (init(0), init(1), init(2), init(3));
            let (mut c4, mut c5, mut c6, mut c7) = (init(4), init(5), init(6), init(7));
            for _ in 0..iters {
                c0 = step::<T, FMA>(c0, a, b);
                c1 = step::<T, FMA>(c1, a, b);
                c2 = step::<T, FMA>(c2, a, b);
                c3 = step::<T, FMA>(c3, a, b);
                c4 = step::<T, FMA>(c4, a, b);
                c5 = step::<T, FMA>(c5, a, b);
                c6 = step::<T, FMA>(c6, a, b);
                c7 = step::<T, FMA>(c7, a, b);
            }
            // Pairwise, as the shaders sum their chains.
            for l in 0..LANES {
                sum[l] = ((c0[l] + c1[l]) + (c2[l] + c3[l])) + ((c4[l] + c5[l]) + (c6[l] + c7[l]));
            }
        }
        for l in 0..LANES {
            y[l] = sum[0][l] + sum[1][l];
        }
    }
}

multiversion!(fn items<T: Real>(x0: &[T], y: &mut [T], iters: usize, a: T, b: T) = items_body);

impl<T: Real> CpuInstance for FmaCpu<T> {
    fn run(&mut self) {
        // `a` and `b` go through a black box so that the compiler cannot
        // treat them as constants (as the GPU backends' parameters are not).
        let (a, b) = (
            std::hint::black_box(T::from_f32(A)),
            std::hint::black_box(T::from_f32(B)),
        );
        let iters = self.iters;
        self.x0
            .par_chunks(ITEMS_PER_TASK)
            .zip(self.y.par_chunks_mut(ITEMS_PER_TASK))
            .for_each(|(x0, y)| items(x0, y, iters, a, b));
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("y", T::buffer(self.y[..self.n].to_vec()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64, iters: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [
                ("n".to_string(), Param::Int(n)),
                ("iters".to_string(), Param::Int(iters)),
            ]
            .into(),
            source: "test".into(),
        }
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("fma_peak")
            .unwrap()
            .manifest
            .tolerance
    }

    #[test]
    fn four_steps_by_hand() {
        // x0 = 1 is the fixed point: every chain j starts at 1 + j/8 and
        // after 4 steps is 1 + a^4 j/8; the sum is 16 + a^4 * 15.
        let k = FmaPeak;
        let mut inputs = k.generate(&size(3, 4), 1).unwrap();
        if let Some(Buffer::F32(x0)) = inputs.buffers.get_mut("x0") {
            x0.fill(1.0);
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let want = 16.0 + (A as f64).powi(4) * 15.0;
        for &y in out.f32("y").unwrap() {
            assert!((y as f64 - want).abs() < 1e-5, "{y} vs {want}");
        }
    }

    #[test]
    fn cpu_passes_and_four_missing_iterations_fail() {
        let k = FmaPeak;
        let inputs = k.generate(&size(1003, 256), 2).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 1003);
        // Four iterations fewer on every chain must fail.
        let short = k.generate(&size(1003, 252), 2).unwrap();
        let mut cpu = k.cpu(&short).unwrap();
        cpu.run();
        let v = k.verify(&inputs, &cpu.outputs(), tol()).unwrap();
        assert!(!v.passed, "{v:?}");
    }

    /// The generic reference in f64 is the recurrence iterated, not the
    /// closed form the verification uses, so the two agree within f64
    /// rounding (the manifest's f64 bound, 2^-53 / (1 - a) of the scale),
    /// not bit for bit.
    #[test]
    fn generic_reference_in_f64_agrees_with_the_closed_form() {
        let k = FmaPeak;
        let inputs = k.generate(&size(257, 64), 4).unwrap();
        let x0: Vec<f64> = inputs.buffers.f32("x0").unwrap().iter().map(|&x| x as f64).collect();
        let y = reference_generic(&x0, 64, A as f64, B as f64);
        let mut out = Buffers::default();
        out.push("y", Buffer::F64(y));
        let v = k
            .verify(&inputs, &out, Tolerance { rel: 1e-12, abs: 0.0 })
            .unwrap();
        assert!(v.passed, "{v:?}");
        assert!(v.max_abs_error < 1e-12, "{v:?}");
    }

    #[test]
    fn work_counts_two_flop_per_fma() {
        let w = FmaPeak.work(&size(10, 8)).unwrap();
        assert_eq!((w.flops, w.items), (2.0 * 10.0 * 16.0 * 8.0, 1280.0));
    }
}
