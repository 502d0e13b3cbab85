//! `conv2d`: 2D convolution of convolutional networks, NCHW, f32.
//!
//! y[n, o, y, x] = sum over c, ky, kx of x[n, c, y + ky - r, x + kx - r]
//! w[o, c, ky, kx], with r = k/2, stride 1 and zero ("same") padding; k is 3
//! or 5 (at most 5). Work: 2 n cout h w cin k^2 FLOP (padding taps counted,
//! the usual convention), bytes: input, weights and output once.
//!
//! The CPU implementation is im2col plus the `gemm` crate (the same
//! micro-kernels as the `gemm` kernel): per image, the cin k^2 x h w patch
//! matrix is built in parallel (each row a shifted copy of an input plane,
//! zeros at the borders) and multiplied by the cout x cin k^2 weights: the
//! patch matrix costs k^2 copies of the input, the product runs near the
//! GEMM peak. (A direct blocked loop was not tried.)
//!
//! Verification: every output finite; 4096 outputs chosen by the seed (first
//! and last included) summed in f64, within `rel * sum |x| |w|`.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::tiling::BlockTile;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("conv2d", Conv2d, ["conv2d/fpga.rs", "tiling.rs"]);

/// The block tile of the implicit GEMM of `conv2d.wgsl` and `conv2d.cl`
/// (see the README's "GPU design"): 128 output pixels (M) x 64 output
/// channels (N) per workgroup of 8 x 16, 8 x 8 each, the cin k^2 taps (K) in
/// slabs of 8.
pub const TILE: BlockTile = BlockTile {
    bm: 128,
    bn: 64,
    bk: 8,
    threads: [8, 16],
};


const MAX_DIM: usize = 1 << 14;
const MAX_ELEMS: usize = 1 << 30;
const SAMPLED: usize = 4096;

pub struct Conv2d;

#[derive(Debug, Clone, Copy)]
struct Shape {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
}

impl Shape {
    fn of(size: &SizeSpec) -> Result<Self> {
        let s = Shape {
            n: size.usize("n", MAX_DIM)?,
            cin: size.usize("cin", MAX_DIM)?,
            cout: size.usize("cout", MAX_DIM)?,
            h: size.usize("h", MAX_DIM)?,
            w: size.usize("w", MAX_DIM)?,
            k: size.usize("k", 5)?,
        };
        if s.k.is_multiple_of(2) {
            return Err(Error::ManifestValue {
                path: size.source.clone(),
                message: format!("k: {} must be odd (3 or 5)", s.k),
            });
        }
        let biggest = (s.n * s.cin.max(s.cout) * s.h * s.w).max(s.cin * s.k * s.k * s.h * s.w);
        if biggest > MAX_ELEMS {
            return Err(Error::ManifestValue {
                path: size.source.clone(),
                message: format!("a tensor of {biggest} elements is over {MAX_ELEMS}"),
            });
        }
        Ok(s)
    }

    fn taps(&self) -> usize {
        self.cin * self.k * self.k
    }

    fn hw(&self) -> usize {
        self.h * self.w
    }

    /// The shaders' entry point for this filter size: one per k, so that k
    /// is a compile-time constant of the tap decomposition.
    fn entry(&self) -> Result<&'static str> {
        match self.k {
            1 => Ok("conv2d_k1"),
            3 => Ok("conv2d_k3"),
            5 => Ok("conv2d_k5"),
            k => Err(Error::InvalidValue {
                what: "conv2d filter size".into(),
                message: format!("k = {k}: the shaders have entry points for k = 1, 3 and 5"),
            }),
        }
    }
}

impl Kernel for Conv2d {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let s = Shape::of(size)?;
        let mut buffers = Buffers::default();
        buffers.push(
            "x",
            Buffer::F32(crate::rng::uniform_f32(
                seed,
                1,
                s.n * s.cin * s.hw(),
                -1.0,
                1.0,
            )),
        );
        // He-like scale keeps outputs of order 1.
        let a = (3.0 / s.taps() as f64).sqrt() as f32;
        buffers.push(
            "wt",
            Buffer::F32(crate::rng::uniform_f32(seed, 2, s.cout * s.taps(), -a, a)),
        );
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let s = Shape::of(size)?;
        let outputs = (s.n * s.cout * s.hw()) as f64;
        Ok(Work {
            flops: 2.0 * outputs * s.taps() as f64,
            bytes: 4.0 * ((s.n * s.cin * s.hw() + s.cout * s.taps()) as f64 + outputs),
            items: outputs,
            item_unit: "outputs".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let s = Shape::of(size)?;
        let x = s.n * s.cin * s.hw();
        let y = s.n * s.cout * s.hw();
        Ok(4 * (2 * x + 2 * s.cout * s.taps() + 3 * y + s.taps() * s.hw()) as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        let s = Shape::of(&inputs.size)?;
        Ok(Box::new(ConvCpu {
            s,
            x: inputs.buffers.f32("x")?.to_vec(),
            wt: inputs.buffers.f32("wt")?.to_vec(),
            col: vec![0.0; s.taps() * s.hw()],
            y: vec![0.0; s.n * s.cout * s.hw()],
        }))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let s = Shape::of(&inputs.size)?;
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("x", s.n * s.cin * s.hw()),
                LaunchBuffer::input("wt", s.cout * s.taps()),
                LaunchBuffer::output("y", s.n * s.cout * s.hw()),
            ],
            params: vec![
                ("n", Arg::U32(param_u32(s.n, "n")?)),
                ("cin", Arg::U32(param_u32(s.cin, "cin")?)),
                ("cout", Arg::U32(param_u32(s.cout, "cout")?)),
                ("h", Arg::U32(param_u32(s.h, "h")?)),
                ("w", Arg::U32(param_u32(s.w, "w")?)),
                ("k", Arg::U32(param_u32(s.k, "k")?)),
            ],
            dispatches: vec![TILE.dispatch(s.entry()?, s.n * s.hw(), s.cout)?],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let s = Shape::of(&inputs.size)?;
        let (x, wt) = (inputs.buffers.f32("x")?, inputs.buffers.f32("wt")?);
        let y = outputs.f32("y")?;
        let mut checker = Checker::new(tol);
        let len = s.n * s.cout * s.hw();
        if y.len() != len {
            checker.check(y.len() as f64, len as f64, 0.0, || "length of y".into());
            return Ok(checker.finish());
        }
        if let Some(i) = y.par_iter().position_any(|v| !v.is_finite()) {
            checker.check(y[i] as f64, 0.0, 0.0, || format!("y[{i}] (not finite)"));
        }
        let r = s.k / 2;
        let refs: Vec<(usize, f64, f64)> = sample_indices(len, SAMPLED, inputs.seed, 400)
            .into_par_iter()
            .map(|i| {
                let (ox, oy) = (i % s.w, (i / s.w) % s.h);
                let (o, img) = ((i / s.hw()) % s.cout, i / (s.hw() * s.cout));
                let (mut sum, mut scale) = (0.0f64, 0.0f64);
                for c in 0..s.cin {
                    for ky in 0..s.k {
                        for kx in 0..s.k {
                            let (iy, ix) = (oy + ky, ox + kx);
                            if iy < r || ix < r || iy - r >= s.h || ix - r >= s.w {
                                continue;
                            }
                            let xv = x[((img * s.cin + c) * s.h + iy - r) * s.w + ix - r] as f64;
                            let wv = wt[((o * s.cin + c) * s.k + ky) * s.k + kx] as f64;
                            sum += xv * wv;
                            scale += (xv * wv).abs();
                        }
                    }
                }
                (i, sum, scale)
            })
            .collect();
        for (i, want, scale) in refs {
            checker.check(y[i] as f64, want, scale, || {
                let (ox, oy) = (i % s.w, (i / s.w) % s.h);
                let (o, img) = ((i / s.hw()) % s.cout, i / (s.hw() * s.cout));
                format!("y[{i}] (n {img}, c {o}, y {oy}, x {ox})")
            });
        }
        Ok(checker.finish())
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::ConvFpga)
    }
}

struct ConvCpu {
    s: Shape,
    x: Vec<f32>,
    wt: Vec<f32>,
    /// The patch matrix of one image: row (c, ky, kx), column (y, x).
    col: Vec<f32>,
    y: Vec<f32>,
}

/// Row (c, ky, kx) of the patch matrix of `plane` (one input channel).
fn im2col_row(row: &mut [f32], plane: &[f32], s: &Shape, ky: usize, kx: usize) {
    let r = s.k / 2;
    for (oy, out) in row.chunks_exact_mut(s.w).enumerate() {
        let iy = oy + ky;
        if iy < r || iy - r >= s.h {
            out.fill(0.0);
            continue;
        }
        let src = &plane[(iy - r) * s.w..][..s.w];
        // out[ox] = src[ox + kx - r] where in range.
        if kx >= r {
            let d = kx - r;
            out[..s.w - d].copy_from_slice(&src[d..]);
            out[s.w - d..].fill(0.0);
        } else {
            let d = r - kx;
            out[..d].fill(0.0);
            out[d..].copy_from_slice(&src[..s.w - d]);
        }
    }
}

impl CpuInstance for ConvCpu {
    fn run(&mut self) {
        let s = self.s;
        let (hw, taps, kk) = (s.hw(), s.taps(), s.k * s.k);
        for img in 0..s.n {
            let x = &self.x[img * s.cin * hw..][..s.cin * hw];
            self.col
                .par_chunks_mut(hw)
                .enumerate()
                .for_each(|(row, out)| {
                    let (c, q) = (row / kk, row % kk);
                    im2col_row(out, &x[c * hw..][..hw], &s, q / s.k, q % s.k);
                });
            let y = &mut self.y[img * s.cout * hw..][..s.cout * hw];
            // y is cout x hw, wt cout x taps, col taps x hw, all row-major.
            crate::kernels::par::gemm_row_major(s.cout, hw, taps, &self.wt, &self.col, y);
        }
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("y", Buffer::F32(self.y.clone()));
        out
    }
}

/// The shape of a size: `[n, cin, cout, h, w, k]`.
fn dims(size: &SizeSpec) -> Result<[usize; 6]> {
    let s = Shape::of(size)?;
    Ok([s.n, s.cin, s.cout, s.h, s.w, s.k])
}

/// The convolution in any [`crate::fpga::Scalar`]: f64, or `ap_fixed` for
/// the FPGA emulation. Each output is accumulated in the scalar's exact
/// wide type over its in-image taps, in the order (c, ky, kx) of the f64
/// check in `verify`, and cast once, as an HLS convolution with a wide
/// accumulator does. `x` and `wt` are laid out as the inputs; output planes
/// (image, channel) run in parallel.
pub fn reference_generic<S: crate::fpga::Scalar>(
    size: &SizeSpec,
    x: &[S],
    wt: &[S],
) -> Result<Vec<S>> {
    let s = Shape::of(size)?;
    let (r, hw) = (s.k / 2, s.hw());
    let mut y = vec![S::zero(); s.n * s.cout * hw];
    y.par_chunks_mut(hw.max(1))
        .enumerate()
        .for_each(|(plane, out)| {
            let (img, o) = (plane / s.cout, plane % s.cout);
            for oy in 0..s.h {
                for ox in 0..s.w {
                    let mut acc = S::wide_zero();
                    for c in 0..s.cin {
                        let xc = &x[(img * s.cin + c) * hw..][..hw];
                        let wc = &wt[(o * s.cin + c) * s.k * s.k..][..s.k * s.k];
                        for ky in 0..s.k {
                            let iy = oy + ky;
                            if iy < r || iy - r >= s.h {
                                continue;
                            }
                            for kx in 0..s.k {
                                let ix = ox + kx;
                                if ix < r || ix - r >= s.w {
                                    continue;
                                }
                                acc =
                                    S::mul_acc(acc, xc[(iy - r) * s.w + ix - r], wc[ky * s.k + kx]);
                            }
                        }
                    }
                    out[oy * s.w + ox] = S::from_wide(acc);
                }
            }
        });
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64, cin: i64, cout: i64, h: i64, w: i64, k: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [
                ("n", n),
                ("cin", cin),
                ("cout", cout),
                ("h", h),
                ("w", w),
                ("k", k),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Param::Int(v)))
            .collect(),
            source: "test".into(),
        }
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("conv2d")
            .unwrap()
            .manifest
            .tolerance
    }

    #[test]
    fn a_box_filter_by_hand() {
        // One channel of ones, a 3x3 filter of ones: each output counts the
        // taps inside the image (4 at corners, 6 on edges, 9 inside).
        let k = Conv2d;
        let mut inputs = k.generate(&size(1, 1, 1, 4, 5, 3), 1).unwrap();
        for name in ["x", "wt"] {
            if let Some(Buffer::F32(v)) = inputs.buffers.get_mut(name) {
                v.fill(1.0);
            }
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let y = out.f32("y").unwrap();
        assert_eq!(&y[..5], &[4.0, 6.0, 6.0, 6.0, 4.0]);
        assert_eq!(&y[5..10], &[6.0, 9.0, 9.0, 9.0, 6.0]);
        assert_eq!(y[19], 4.0);
    }

    /// The generic reference in f64 passes the kernel's own check, and
    /// the box filter by hand holds in it too.
    #[test]
    fn generic_reference_in_f64_passes() {
        let k = Conv2d;
        let inputs = k.generate(&size(2, 3, 5, 19, 23, 5), 3).unwrap();
        let f = |n: &str| -> Vec<f64> {
            inputs
                .buffers
                .f32(n)
                .unwrap()
                .iter()
                .map(|&v| v as f64)
                .collect()
        };
        let y = reference_generic(&inputs.size, &f("x"), &f("wt")).unwrap();
        let mut out = Buffers::default();
        out.push("y", Buffer::F32(y.iter().map(|&v| v as f32).collect()));
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        let ones = vec![1.0f64; 4 * 5];
        let y = reference_generic(&size(1, 1, 1, 4, 5, 3), &ones, &[1.0; 9]).unwrap();
        assert_eq!(&y[..5], &[4.0, 6.0, 6.0, 6.0, 4.0]);
        assert_eq!(y[6], 9.0);
    }

    /// The shaders state the tile `launch` dispatches, with one entry point
    /// per filter size, and the workgroup memory the README gives.
    /// Floats of padding per tap row of the shaders' weight slabs.
    const WEIGHT_PAD: u32 = 4;

    #[test]
    fn shaders_and_launch_share_the_tile() {
        use crate::kernels::tiling::{shader_constant, shader_group_size};
        for src in [
            include_str!("../../kernels/conv2d/conv2d.wgsl"),
            include_str!("../../kernels/conv2d/conv2d.cl"),
        ] {
            assert_eq!(shader_constant(src, "BM"), Some(TILE.bm));
            assert_eq!(shader_constant(src, "BN"), Some(TILE.bn));
            assert_eq!(shader_constant(src, "BK"), Some(TILE.bk));
            // Padded weight rows, in vec4s.
            assert_eq!(shader_constant(src, "BV"), Some((TILE.bn + WEIGHT_PAD) / 4));
            for k in ["conv2d_k1", "conv2d_k3", "conv2d_k5"] {
                assert_eq!(shader_group_size(src, k), Some(TILE.threads), "{k}");
            }
        }
        assert_eq!(TILE.workgroup_bytes(WEIGHT_PAD, 4), 12_544);
        // medium: 8 x 56 x 56 pixels in 196 tiles of 128, 64 channels in one.
        let medium = size(8, 64, 64, 56, 56, 3);
        let launch = Conv2d
            .launch(&Conv2d.generate(&medium, 1).unwrap())
            .unwrap();
        assert_eq!(launch.dispatches[0].entry, "conv2d_k3");
        assert_eq!(launch.dispatches[0].groups, [1, 196, 1]);
        let tiny = Conv2d
            .launch(&Conv2d.generate(&size(2, 3, 5, 19, 23, 5), 1).unwrap())
            .unwrap();
        assert_eq!(tiny.dispatches[0].entry, "conv2d_k5");
        assert_eq!(tiny.dispatches[0].groups, [1, 7, 1]);
    }

    #[test]
    fn cpu_passes_and_a_wrong_output_fails() {
        let k = Conv2d;
        for kk in [3, 5] {
            let inputs = k.generate(&size(2, 3, 5, 19, 23, kk), 3).unwrap();
            let mut cpu = k.cpu(&inputs).unwrap();
            cpu.run();
            let mut out = cpu.outputs();
            let v = k.verify(&inputs, &out, tol()).unwrap();
            assert!(v.passed, "{v:?}");
            assert_eq!(v.checked, 4096);
            if let Some(Buffer::F32(y)) = out.get_mut("y") {
                let last = y.len() - 1;
                y[last] += 0.01;
            }
            let v = k.verify(&inputs, &out, tol()).unwrap();
            assert!(!v.passed);
            assert!(
                v.detail.starts_with("y[4369] (n 1, c 4, y 18, x 22)"),
                "{}",
                v.detail
            );
        }
    }
}
