//! `gemm`: C = A * B for square row-major matrices, f32 (SGEMM) or f64
//! (DGEMM).
//!
//! Stands for dense layers and every compute-bound linear-algebra code; it
//! gives the compute ceiling a device reaches on real work. The CPU
//! implementation is the `gemm` crate (the kernels behind faer and candle):
//! packed, cache-blocked, with hand-written AVX2/AVX-512 micro-kernels chosen
//! at run time and rayon parallelism. A hand-written blocked loop nest reaches
//! about half of that; the crate is within the 0.8x of OpenBLAS the harness
//! requires (see `scripts/peer-ratios.sh`).
//!
//! Verification at n = 2048 cannot afford a full f64 product on every run, so
//! it checks (1) a seeded sample of entries, the first and last included,
//! each against an f64 dot product, and (2) the whole matrix with Freivalds'
//! test: C*x against A*(B*x) in f64 for a random sign vector x, row by row.

use rayon::prelude::*;

use crate::error::Result;
use crate::fpga::Scalar as FpgaScalar;
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::Real;
use crate::kernels::tiling::BlockTile;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("gemm", Gemm, ["gemm/fpga.rs", "tiling.rs"]);

/// The block tile of `gemm.wgsl` and `gemm.cl` (see the README's "GPU
/// design"): 128 x 128 outputs per workgroup of 16 x 16, 8 x 8 each, K in
/// slabs of 4 (two slabs of A and B fill 16 KiB in f64).
pub const TILE: BlockTile = BlockTile {
    bm: 128,
    bn: 128,
    bk: 4,
    threads: [16, 16],
};

/// Largest n accepted (three 4 GiB matrices).
const MAX_N: usize = 32_768;
/// Entries checked one by one against an f64 dot product.
const SAMPLED_ENTRIES: usize = 1024;

pub struct Gemm;

impl Kernel for Gemm {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let n = size.usize("n", MAX_N)?;
        let mut buffers = Buffers::default();
        buffers.push(
            "a",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, n * n, -1.0, 1.0)),
        );
        buffers.push(
            "b",
            Buffer::F32(crate::rng::uniform_f32(seed, 2, n * n, -1.0, 1.0)),
        );
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let n = size.usize("n", MAX_N)? as f64;
        Ok(Work {
            flops: 2.0 * n * n * n,
            bytes: 3.0 * 4.0 * n * n,
            items: n * n,
            item_unit: "elements of C".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let n = size.usize("n", MAX_N)? as u64;
        // Inputs a, b; the instance's a, b, c; the read-back c.
        Ok(6 * 4 * n * n)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, gemm_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let n = inputs.size.usize("n", MAX_N)?;
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("a", n * n),
                LaunchBuffer::input("b", n * n),
                LaunchBuffer::output("c", n * n),
            ],
            params: vec![("n", Arg::U32(param_u32(n, "n")?))],
            dispatches: vec![TILE.dispatch("gemm", n, n)?],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let n = inputs.size.usize("n", MAX_N)?;
        let a = inputs.buffers.f32("a")?;
        let b = inputs.buffers.f32("b")?;
        let c = outputs.real("c")?;
        let mut checker = Checker::new(tol);
        if c.len() != n * n {
            checker.check(c.len() as f64, (n * n) as f64, 0.0, || "length of c".into());
            return Ok(checker.finish());
        }

        // (1) Sampled entries against f64 dot products.
        let entries = sample_indices(n * n, SAMPLED_ENTRIES, inputs.seed, 100);
        let sampled: Vec<(usize, f64, f64)> = entries
            .par_iter()
            .map(|&e| {
                let (i, j) = (e / n, e % n);
                let (mut want, mut scale) = (0.0f64, 0.0f64);
                for k in 0..n {
                    let p = a[i * n + k] as f64 * b[k * n + j] as f64;
                    want += p;
                    scale += p.abs();
                }
                (e, want, scale)
            })
            .collect();
        for (e, want, scale) in sampled {
            checker.check(c.at(e), want, scale, || format!("c[{}][{}]", e / n, e % n));
        }

        // (2) Freivalds: row i of C*x against row i of A*(B*x), x in {-1, 1}^n.
        // With |x| = 1 the rounding bound of row i is rel * (|A| * (|B| * 1))_i.
        let x: Vec<f64> = (0..n)
            .map(|j| {
                if crate::rng::bits(inputs.seed, 101, j as u64) & 1 == 0 {
                    1.0
                } else {
                    -1.0
                }
            })
            .collect();
        let mat_vec = |m: &(dyn Fn(usize) -> f64 + Sync), v: &[f64], abs: bool| -> Vec<f64> {
            (0..n)
                .into_par_iter()
                .map(|i| {
                    v.iter()
                        .enumerate()
                        .map(|(j, &v)| {
                            let r = m(i * n + j);
                            if abs { r.abs() * v } else { r * v }
                        })
                        .sum()
                })
                .collect()
        };
        let (a, b) = (&|e: usize| a[e] as f64, &|e: usize| b[e] as f64);
        let cx = mat_vec(&|e| c.at(e), &x, false);
        let abx = mat_vec(a, &mat_vec(b, &x, false), false);
        let scale = mat_vec(a, &mat_vec(b, &vec![1.0; n], true), true);
        for i in 0..n {
            checker.check(cx[i], abx[i], scale[i], || {
                format!("row {i} of C*x (Freivalds)")
            });
        }
        let mut verdict = checker.finish();
        // Freivalds touches every entry of C.
        verdict.checked = (n * n) as u64;
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::GemmFpga)
    }
}

/// The reference product in any [`FpgaScalar`]: f64 for the reference, or
/// `ap_fixed` for the FPGA emulation. Each entry is accumulated in the
/// scalar's exact wide type (products at full precision) and cast once,
/// as hls4ml's dense layers do. Rows run in parallel.
pub fn reference_generic<S: FpgaScalar>(n: usize, a: &[S], b: &[S]) -> Vec<S> {
    let mut c = vec![S::zero(); n * n];
    c.par_chunks_mut(n.max(1)).enumerate().for_each(|(i, row)| {
        let mut acc = vec![S::wide_zero(); n];
        for k in 0..n {
            let aik = a[i * n + k];
            for (acc, &bkj) in acc.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *acc = S::mul_acc(*acc, aik, bkj);
            }
        }
        for (c, acc) in row.iter_mut().zip(acc) {
            *c = S::from_wide(acc);
        }
    });
    c
}

struct GemmCpu<T> {
    n: usize,
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
}

fn gemm_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let n = inputs.size.usize("n", MAX_N)?;
    Ok(Box::new(GemmCpu {
        n,
        a: T::input(inputs, "a")?.to_vec(),
        b: T::input(inputs, "b")?.to_vec(),
        c: vec![T::ZERO; n * n],
    }))
}

impl<T: Real> CpuInstance for GemmCpu<T> {
    fn run(&mut self) {
        let n = self.n;
        crate::kernels::par::gemm_row_major(n, n, n, &self.a, &self.b, &mut self.c);
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("c", T::buffer(self.c.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [("n".to_string(), Param::Int(n))].into(),
            source: "test".into(),
        }
    }

    #[test]
    fn cpu_matches_naive_product() {
        let k = Gemm;
        let inputs = k.generate(&size(67), 3).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let (a, b, c) = (
            inputs.buffers.f32("a").unwrap(),
            inputs.buffers.f32("b").unwrap(),
            out.f32("c").unwrap(),
        );
        for (i, j) in [(0, 0), (5, 66), (66, 3), (33, 33)] {
            let want: f64 = (0..67)
                .map(|k| a[i * 67 + k] as f64 * b[k * 67 + j] as f64)
                .sum();
            assert!((c[i * 67 + j] as f64 - want).abs() < 1e-4, "c[{i}][{j}]");
        }
        let tol = Registry::builtin()
            .unwrap()
            .get("gemm")
            .unwrap()
            .manifest
            .tolerance;
        assert!(k.verify(&inputs, &out, tol).unwrap().passed);
    }

    /// The shaders state the tile `launch` dispatches, and every manifest
    /// size is covered by whole tiles (ragged edges inside the last one).
    #[test]
    fn shaders_and_launch_share_the_tile() {
        use crate::kernels::tiling::{shader_constant, shader_group_size};
        for src in [
            include_str!("../../kernels/gemm/gemm.wgsl"),
            include_str!("../../kernels/gemm/gemm.cl"),
        ] {
            assert_eq!(shader_constant(src, "BM"), Some(TILE.bm));
            assert_eq!(shader_constant(src, "BN"), Some(TILE.bn));
            assert_eq!(shader_constant(src, "BK"), Some(TILE.bk));
            assert_eq!(shader_group_size(src, "gemm"), Some(TILE.threads));
        }
        for (n, tiles) in [(67, 1), (512, 4), (1024, 8), (2048, 16)] {
            let launch = Gemm.launch(&Gemm.generate(&size(n), 1).unwrap()).unwrap();
            assert_eq!(launch.dispatches[0].groups, [tiles, tiles, 1], "n = {n}");
        }
        // Two slabs of A and B, no padding: 16 KiB in f64.
        assert_eq!(TILE.workgroup_bytes(0, 8), 16_384);
    }

    #[test]
    fn freivalds_catches_an_error_outside_the_sample() {
        let k = Gemm;
        let n = 64usize;
        let inputs = k.generate(&size(n as i64), 9).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let sampled = sample_indices(n * n, SAMPLED_ENTRIES, 9, 100);
        let victim = (0..n * n).find(|e| !sampled.contains(e)).unwrap();
        if let Some(Buffer::F32(c)) = out.get_mut("c") {
            c[victim] += 1.0;
        }
        let tol = Tolerance {
            rel: 1e-4,
            abs: 0.0,
        };
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(!v.passed);
        assert!(
            v.detail.contains(&format!("row {} ", victim / n)),
            "{}",
            v.detail
        );
    }
}
