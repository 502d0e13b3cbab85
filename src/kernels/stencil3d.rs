//! `stencil3d`: 7-point Jacobi heat steps on a 3D grid, f32 or f64, fixed
//! boundary.
//!
//! v'(x,y,z) = c0 v + c1 (v(x±1) + v(y±1) + v(z±1)) inside, v' = v on the six
//! faces, with c1 = alpha = 1/8 and c0 = 1 - 6 alpha = 1/4 (an explicit heat
//! step at the stability limit's half). `steps` steps per invocation,
//! ping-ponging between two grids; the first step reads the input grid and
//! the last writes `u`. Work: 8 FLOP per point and step (5 additions of the
//! neighbours, a product, a fused multiply-add counted as 2, the usual
//! convention for this stencil), 8 bytes per point and step (one streaming
//! read and one write, neighbours from cache), items = point updates.
//!
//! The CPU implementation partitions the z planes statically over the
//! threads (first-touch placement, as OpenMP's `schedule(static)`), walks
//! each thread's planes in blocks of y rows so that the three planes a row
//! needs stay in cache, and vectorises along x (compiled for AVX-512,
//! AVX2+FMA or baseline x86-64, picked at run time).
//!
//! Verification: up to 2^22 points, the full f64 reference of every point;
//! above, a seeded sample of points (first and last included), each from an
//! f64 reference computed on the cube of radius `steps` around it (a point
//! after `steps` steps depends on nothing further away), plus a check of
//! every output against the maximum principle (weights are non-negative and
//! sum to 1, so every value stays within the input's range).

use std::ops::Range;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, Chunk, CpuInstance, Dispatch, Inputs, Kernel, Launch,
    LaunchBuffer, Reals, SizeSpec, Tolerance, Verdict, WINDOW_ALIGN, Window, Work, groups_for,
    max_binding_bytes, max_binding_elems, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::{Real, SharedMut, static_ranges};
use crate::multiversion;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("stencil3d", Stencil3d, ["stencil3d/fpga.rs"]);

/// Diffusion number of the step.
pub const C1: f32 = 0.125;
/// Weight of the centre: 1 - 6 * C1.
pub const C0: f32 = 0.25;
/// FLOP per point update.
pub const FLOPS_PER_POINT: f64 = 8.0;
const MAX_DIM: usize = 1 << 14;
const MAX_POINTS: usize = 1 << 31;
const MAX_STEPS: usize = 1024;
/// Up to this many points the whole grid is checked against f64.
const FULL_CHECK_POINTS: usize = 1 << 22;
/// Points checked on larger grids.
const SAMPLED_POINTS: usize = 2048;
/// Rows per y block of the CPU sweep (3 planes x 16 rows of 512 stay in L2).
const Y_BLOCK: usize = 16;
/// z planes per GPU invocation.
const Z_CHUNK: u32 = 16;

pub struct Stencil3d;

/// The slabs of planes one dispatch of a step works on: all planes where
/// the grid fits one binding, else slabs of whole `Z_CHUNK`s whose source
/// window (the slab and a plane either side, aligned down) fits one.
fn slabs(g: &Grid) -> Result<Vec<Range<usize>>> {
    let plane = g.plane();
    if g.points() <= max_binding_elems() {
        return Ok(std::iter::once(0..g.nz).collect());
    }
    let fits = max_binding_elems().saturating_sub(WINDOW_ALIGN) / plane;
    let zc = Z_CHUNK as usize;
    let per = fits.saturating_sub(2) / zc * zc;
    if per == 0 {
        return Err(Error::InvalidValue {
            what: "stencil3d grid".into(),
            message: format!(
                "planes of {}x{} points do not fit a binding of {} bytes in slabs of {zc}",
                g.nx,
                g.ny,
                max_binding_bytes()
            ),
        });
    }
    Ok((0..g.nz.div_ceil(per))
        .map(|k| k * per..((k + 1) * per).min(g.nz))
        .collect())
}

/// The windows and parameters of the dispatch over slab `z` of a step from
/// buffer `src` (0 = u0, 1 = u, 2 = tmp): the source with a plane either
/// side, the destination and the third buffer (bound, not used) the slab
/// alone.
fn slab_chunk(g: &Grid, z: &Range<usize>, src: usize) -> Result<Chunk> {
    let (plane, points) = (g.plane(), g.points());
    let windows: Vec<Window> = (0..3)
        .map(|b| {
            let (lo, hi) = if b == src {
                (z.start.saturating_sub(1), z.end + 1)
            } else {
                (z.start, z.end)
            };
            Window::covering(b, lo * plane, hi * plane, points)
        })
        .collect();
    let offset = |b: usize| param_u32(windows[b].offset, "window offset").map(Arg::U32);
    Ok(Chunk {
        params: vec![
            ("zlo", Arg::U32(param_u32(z.start, "zlo")?)),
            ("zhi", Arg::U32(param_u32(z.end, "zhi")?)),
            ("o0", offset(0)?),
            ("o1", offset(1)?),
            ("o2", offset(2)?),
        ],
        windows,
    })
}

#[derive(Debug, Clone, Copy)]
struct Grid {
    nx: usize,
    ny: usize,
    nz: usize,
    steps: usize,
}

impl Grid {
    fn of(size: &SizeSpec) -> Result<Self> {
        let g = Grid {
            nx: size.usize("nx", MAX_DIM)?,
            ny: size.usize("ny", MAX_DIM)?,
            nz: size.usize("nz", MAX_DIM)?,
            steps: size.usize("steps", MAX_STEPS)?,
        };
        for (key, v) in [("nx", g.nx), ("ny", g.ny), ("nz", g.nz)] {
            if v < 3 {
                return Err(crate::error::Error::ManifestValue {
                    path: size.source.clone(),
                    message: format!("{key}: {v} is below 3 (a grid needs an interior)"),
                });
            }
        }
        if g.points() > MAX_POINTS {
            return Err(crate::error::Error::ManifestValue {
                path: size.source.clone(),
                message: format!("nx*ny*nz: {} is over {MAX_POINTS}", g.points()),
            });
        }
        Ok(g)
    }

    fn points(&self) -> usize {
        self.nx * self.ny * self.nz
    }

    fn plane(&self) -> usize {
        self.nx * self.ny
    }
}

impl Kernel for Stencil3d {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let g = Grid::of(size)?;
        let mut buffers = Buffers::default();
        // A random temperature field in [0, 1).
        buffers.push(
            "u0",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, g.points(), 0.0, 1.0)),
        );
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let g = Grid::of(size)?;
        let updates = (g.points() * g.steps) as f64;
        Ok(Work {
            flops: FLOPS_PER_POINT * updates,
            bytes: 8.0 * updates,
            items: updates,
            item_unit: "point updates".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let g = Grid::of(size)?;
        let p = g.points() as u64;
        // Input; the instance's copy and two grids; read-back of two grids;
        // the full f64 reference (two grids) on small grids.
        let reference = if g.points() <= FULL_CHECK_POINTS {
            16 * p
        } else {
            0
        };
        Ok(4 * 6 * p + reference)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, stencil_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let g = Grid::of(&inputs.size)?;
        let p = g.points();
        param_u32(p, "nx*ny*nz")?;
        let slabs = slabs(&g)?;
        let whole = slabs.len() == 1;
        let mut dispatches = Vec::with_capacity(g.steps * slabs.len());
        // Step k writes u when steps-1-k is even, so the last one writes u.
        for k in 0..g.steps {
            let to_u = (g.steps - 1 - k).is_multiple_of(2);
            let (entry, src) = match (k == 0, to_u) {
                (true, true) => ("in_to_u", 0),
                (true, false) => ("in_to_tmp", 0),
                (false, true) => ("tmp_to_u", 2),
                (false, false) => ("u_to_tmp", 1),
            };
            for z in &slabs {
                let groups = [
                    groups_for(g.nx, 64)?,
                    groups_for(g.ny, 4)?,
                    groups_for(z.len(), Z_CHUNK)?,
                ];
                let mut d = Dispatch::new(entry, groups, [64, 4, 1]);
                if !whole {
                    d.chunk = Some(slab_chunk(&g, z, src)?);
                }
                dispatches.push(d);
            }
        }
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("u0", p),
                LaunchBuffer::output("u", p),
                LaunchBuffer::output("tmp", p),
            ],
            params: vec![
                ("nx", Arg::U32(param_u32(g.nx, "nx")?)),
                ("ny", Arg::U32(param_u32(g.ny, "ny")?)),
                ("nz", Arg::U32(param_u32(g.nz, "nz")?)),
                ("zchunk", Arg::U32(Z_CHUNK)),
                ("zlo", Arg::U32(0)),
                ("zhi", Arg::U32(param_u32(g.nz, "nz")?)),
                ("o0", Arg::U32(0)),
                ("o1", Arg::U32(0)),
                ("o2", Arg::U32(0)),
                ("c0", Arg::F32(C0)),
                ("c1", Arg::F32(C1)),
            ],
            dispatches,
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let g = Grid::of(&inputs.size)?;
        let u0 = inputs.buffers.f32("u0")?;
        let u = outputs.real("u")?;
        let mut checker = Checker::new(tol);
        if u.len() != g.points() {
            checker.check(u.len() as f64, g.points() as f64, 0.0, || {
                "length of u".into()
            });
            return Ok(checker.finish());
        }
        let at = |i: usize| {
            let x = i % g.nx;
            let y = (i / g.nx) % g.ny;
            let z = i / g.plane();
            format!("u[{i}] (x {x}, y {y}, z {z})")
        };
        // Inputs are >= 0 and the weights too: the reference value is the
        // sum of the magnitudes of its terms, the scale of its rounding.
        if g.points() <= FULL_CHECK_POINTS {
            let want = reference_full(&g, u0);
            let worst = worst_index(u, &want, tol);
            checker.check(u.at(worst), want[worst], want[worst], || at(worst));
            let mut verdict = checker.finish();
            verdict.checked = u.len() as u64;
            return Ok(verdict);
        }
        // Maximum principle over every output.
        let (lo, hi) = u0
            .par_iter()
            .fold(
                || (f32::INFINITY, f32::NEG_INFINITY),
                |(lo, hi), &v| (lo.min(v), hi.max(v)),
            )
            .reduce(
                || (f32::INFINITY, f32::NEG_INFINITY),
                |a, b| (a.0.min(b.0), a.1.max(b.1)),
            );
        let (lo, hi) = (lo as f64, hi as f64);
        let outside = (0..u.len()).into_par_iter().find_any(|&i| {
            let v = u.at(i);
            !(v.is_finite()
                && v >= lo - tol.rel * hi.abs() - tol.abs
                && v <= hi * (1.0 + tol.rel) + tol.abs)
        });
        if let Some(i) = outside {
            let v = u.at(i);
            checker.check(v, v.clamp(lo, hi), hi.abs(), || {
                format!("{} (outside the input's range)", at(i))
            });
        }
        let samples = sample_indices(g.points(), SAMPLED_POINTS, inputs.seed, 200);
        let refs: Vec<(usize, f64)> = samples
            .par_iter()
            .map(|&i| (i, reference_at(&g, u0, i)))
            .collect();
        for (i, want) in refs {
            checker.check(u.at(i), want, want, || at(i));
        }
        Ok(checker.finish())
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::StencilFpga)
    }
}

/// The index of the worst element of `got` against `want`.
fn worst_index(got: Reals, want: &[f64], tol: Tolerance) -> usize {
    want.par_iter()
        .enumerate()
        .map(|(i, &w)| {
            let err = (got.at(i) - w).abs();
            let bound = (tol.abs + tol.rel * w.abs()).max(f64::MIN_POSITIVE);
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
        .0
}

/// Plane `z` of one f64 step into `out`. Points on the faces of the box
/// keep their value: on the grid's faces that is the fixed boundary. The
/// generic step in f64 (whose `mul_acc` is `acc + a * b`).
fn step_plane(src: &[f64], out: &mut [f64], z: usize, dims: [usize; 3]) {
    step_plane_generic(src, out, z, dims, (C0 as f64, C1 as f64));
}

/// The f64 reference of the whole grid after `steps` steps.
fn reference_full(g: &Grid, u0: &[f32]) -> Vec<f64> {
    steps_generic(g, u0.par_iter().map(|&v| v as f64).collect())
}

/// The f64 reference of point `i` after `steps` steps, from the cube of
/// radius `steps` around it (clipped to the grid).
fn reference_at(g: &Grid, u0: &[f32], i: usize) -> f64 {
    let c = [i % g.nx, (i / g.nx) % g.ny, i / g.plane()];
    let n = [g.nx, g.ny, g.nz];
    let r = g.steps;
    let lo: Vec<usize> = (0..3).map(|d| c[d].saturating_sub(r)).collect();
    let hi: Vec<usize> = (0..3).map(|d| (c[d] + r + 1).min(n[d])).collect();
    let dims = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    let mut a = Vec::with_capacity(dims[0] * dims[1] * dims[2]);
    for z in lo[2]..hi[2] {
        for y in lo[1]..hi[1] {
            let row = (z * g.ny + y) * g.nx;
            a.extend(u0[row + lo[0]..row + hi[0]].iter().map(|&v| v as f64));
        }
    }
    let mut b = vec![0.0f64; a.len()];
    // Box faces that are grid faces are fixed, as in the kernel. Box faces
    // that are cuts inside the grid keep stale values; they are r cells from
    // the centre and staleness moves one cell per step, so the centre is
    // exact after r steps.
    let plane = dims[0] * dims[1];
    for _ in 0..r {
        for (z, out) in b.chunks_mut(plane).enumerate() {
            step_plane(&a, out, z, dims);
        }
        std::mem::swap(&mut a, &mut b);
    }
    let l = [c[0] - lo[0], c[1] - lo[1], c[2] - lo[2]];
    a[(l[2] * dims[1] + l[1]) * dims[0] + l[0]]
}

fn stencil_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let g = Grid::of(&inputs.size)?;
    let src = T::input(inputs, "u0")?;
    let threads = rayon::current_num_threads();
    let slabs = static_ranges(g.nz, threads, 1);
    // First touch of every grid by the thread that will sweep its planes.
    let touch = |fill: Option<&[T]>| {
        let mut v = vec![T::ZERO; g.points()];
        let view = SharedMut::new(&mut v);
        rayon::broadcast(|ctx| {
            let r = slabs[ctx.index()].clone();
            let r = r.start * g.plane()..r.end * g.plane();
            // SAFETY: slabs are disjoint and `v` outlives the broadcast.
            let d = unsafe { view.range(r.clone()) };
            match fill {
                Some(s) => d.copy_from_slice(&s[r]),
                None => d.fill(T::ZERO),
            }
        });
        v
    };
    Ok(Box::new(StencilCpu {
        g,
        u0: touch(Some(src)),
        u: touch(None),
        tmp: touch(None),
        slabs,
    }))
}

struct StencilCpu<T> {
    g: Grid,
    u0: Vec<T>,
    u: Vec<T>,
    tmp: Vec<T>,
    /// Each thread's z planes, the same on every run.
    slabs: Vec<Range<usize>>,
}

/// The planes `zs` of one step from `src` into `dst` (which holds exactly
/// those planes), in blocks of [`Y_BLOCK`] rows.
#[inline(always)]
fn slab_body<T: Real, const FMA: bool>(
    src: &[T],
    dst: &mut [T],
    zs: Range<usize>,
    dims: [usize; 3],
) {
    let (c0, c1) = (T::from_f32(C0), T::from_f32(C1));
    let [nx, ny, nz] = dims;
    let plane = nx * ny;
    let w = nx - 2;
    for yb in (0..ny).step_by(Y_BLOCK) {
        for z in zs.clone() {
            for y in yb..(yb + Y_BLOCK).min(ny) {
                let i = z * plane + y * nx;
                let out = &mut dst[(z - zs.start) * plane + y * nx..][..nx];
                let c = &src[i..i + nx];
                if z == 0 || z == nz - 1 || y == 0 || y == ny - 1 {
                    out.copy_from_slice(c);
                    continue;
                }
                let (n, s) = (&src[i - nx..i], &src[i + nx..i + 2 * nx]);
                let (d, u) = (&src[i - plane..][..nx], &src[i + plane..][..nx]);
                out[0] = c[0];
                out[nx - 1] = c[nx - 1];
                let o = &mut out[1..][..w];
                let (xm, xc, xp) = (&c[..w], &c[1..][..w], &c[2..][..w]);
                let (n, s, d, u) = (&n[1..][..w], &s[1..][..w], &d[1..][..w], &u[1..][..w]);
                for k in 0..w {
                    let sum = ((xm[k] + xp[k]) + (n[k] + s[k])) + (d[k] + u[k]);
                    o[k] = T::mul_add::<FMA>(c0, xc[k], c1 * sum);
                }
            }
        }
    }
}

multiversion!(fn slab<T: Real>(src: &[T], dst: &mut [T], zs: Range<usize>, dims: [usize; 3]) = slab_body);

impl<T: Real> StencilCpu<T> {
    fn step(g: &Grid, slabs: &[Range<usize>], src: &[T], dst: &mut [T]) {
        let view = SharedMut::new(dst);
        let dims = [g.nx, g.ny, g.nz];
        let plane = g.plane();
        rayon::broadcast(|ctx| {
            let zs = slabs[ctx.index()].clone();
            if zs.is_empty() {
                return;
            }
            // SAFETY: slabs are disjoint and `dst` outlives the broadcast.
            let d = unsafe { view.range(zs.start * plane..zs.end * plane) };
            slab(src, d, zs, dims);
        });
    }
}

impl<T: Real> CpuInstance for StencilCpu<T> {
    fn run(&mut self) {
        let g = self.g;
        // The pool may have changed size since `cpu`: fall back to a new split.
        if self.slabs.len() != rayon::current_num_threads() {
            self.slabs = static_ranges(g.nz, rayon::current_num_threads(), 1);
        }
        for k in 0..g.steps {
            let to_u = (g.steps - 1 - k).is_multiple_of(2);
            match (k == 0, to_u) {
                (true, true) => Self::step(&g, &self.slabs, &self.u0, &mut self.u),
                (true, false) => Self::step(&g, &self.slabs, &self.u0, &mut self.tmp),
                (false, true) => Self::step(&g, &self.slabs, &self.tmp, &mut self.u),
                (false, false) => Self::step(&g, &self.slabs, &self.u, &mut self.tmp),
            }
        }
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("u", T::buffer(self.u.clone()));
        out
    }
}

/// The grid of a size: `[nx, ny, nz, steps]`.
fn dims(size: &SizeSpec) -> Result<[usize; 4]> {
    let g = Grid::of(size)?;
    Ok([g.nx, g.ny, g.nz, g.steps])
}

/// Plane `z` of one step in any [`crate::fpga::Scalar`]: points on the
/// faces of the box keep their value; inside, the six neighbours summed
/// pairwise in `S` (exact in fixed point while the sum is in range), then
/// `c0 v + c1 s` in the wide type and one cast. In f64 (`mul_acc` is
/// `acc + a * b`) it is the f64 reference.
fn step_plane_generic<S: crate::fpga::Scalar>(
    src: &[S],
    out: &mut [S],
    z: usize,
    dims: [usize; 3],
    (c0, c1): (S, S),
) {
    let [bx, by, bz] = dims;
    let edge = |c: usize, n: usize| c == 0 || c == n - 1;
    for y in 0..by {
        for x in 0..bx {
            let i = (z * by + y) * bx + x;
            out[y * bx + x] = if edge(x, bx) || edge(y, by) || edge(z, bz) {
                src[i]
            } else {
                let s = (src[i - 1].add(src[i + 1]))
                    .add(src[i - bx].add(src[i + bx]))
                    .add(src[i - bx * by].add(src[i + bx * by]));
                S::from_wide(S::mul_acc(S::mul_acc(S::wide_zero(), c0, src[i]), c1, s))
            };
        }
    }
}

/// The grid after `steps` steps in any [`crate::fpga::Scalar`]: f64 (the
/// reference `verify` uses), or `ap_fixed` for the FPGA
/// emulation, where every step writes the grid in the format as an HLS
/// design writes its line-buffered stream. Planes run in parallel.
pub fn reference_generic<S: crate::fpga::Scalar>(size: &SizeSpec, u0: &[S]) -> Result<Vec<S>> {
    Ok(steps_generic(&Grid::of(size)?, u0.to_vec()))
}

/// Every step of the grid `a` in `S`, planes in parallel.
fn steps_generic<S: crate::fpga::Scalar>(g: &Grid, mut a: Vec<S>) -> Vec<S> {
    let c = (S::from_f64(C0 as f64), S::from_f64(C1 as f64));
    let mut b = vec![S::zero(); a.len()];
    for _ in 0..g.steps {
        b.par_chunks_mut(g.plane())
            .enumerate()
            .for_each(|(z, plane)| step_plane_generic(&a, plane, z, [g.nx, g.ny, g.nz], c));
        std::mem::swap(&mut a, &mut b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(nx: i64, ny: i64, nz: i64, steps: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [
                ("nx".to_string(), Param::Int(nx)),
                ("ny".to_string(), Param::Int(ny)),
                ("nz".to_string(), Param::Int(nz)),
                ("steps".to_string(), Param::Int(steps)),
            ]
            .into(),
            source: "test".into(),
        }
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("stencil3d")
            .unwrap()
            .manifest
            .tolerance
    }

    #[test]
    fn a_hot_point_spreads_by_hand() {
        let k = Stencil3d;
        let mut inputs = k.generate(&size(5, 5, 5, 1), 1).unwrap();
        if let Some(Buffer::F32(u0)) = inputs.buffers.get_mut("u0") {
            u0.fill(0.0);
            u0[(2 * 5 + 2) * 5 + 2] = 8.0;
            u0[0] = 3.0; // a boundary value stays
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let u = out.f32("u").unwrap();
        let at = |x: usize, y: usize, z: usize| u[(z * 5 + y) * 5 + x];
        assert_eq!(at(2, 2, 2), 2.0); // 8 * 1/4
        assert_eq!(at(1, 2, 2), 1.0); // 8 * 1/8
        assert_eq!(at(2, 2, 3), 1.0);
        assert_eq!(at(1, 1, 2), 0.0);
        assert_eq!(u[0], 3.0);
        assert_eq!(u.iter().sum::<f32>(), 3.0 + 2.0 + 6.0);
    }

    #[test]
    fn a_heat_mode_decays_as_the_heat_equation_says() {
        // u0 = sin(pi x/(nx-1)) sin(pi y/(ny-1)) sin(pi z/(nz-1)) vanishes on
        // the faces and is an eigenmode of the 7-point step: each step
        // multiplies it by lambda = c0 + 2 c1 (cos(pi/(nx-1)) + ...). The
        // heat equation u_t = alpha lap(u), alpha = c1 in units of
        // dt / h^2, decays it as exp(-alpha pi^2 (1/(nx-1)^2 + ...)) per
        // step; the explicit scheme's rate differs from it by O(h^2), at
        // most (pi h)^2 / 12 relative for the coarsest axis.
        let (nx, ny, nz, steps) = (33usize, 25usize, 17usize, 100usize);
        let pi = std::f64::consts::PI;
        let k = Stencil3d;
        let mut inputs = k.generate(&size(nx as i64, ny as i64, nz as i64, steps as i64), 1).unwrap();
        let mode = |x: usize, y: usize, z: usize| {
            (pi * x as f64 / (nx - 1) as f64).sin()
                * (pi * y as f64 / (ny - 1) as f64).sin()
                * (pi * z as f64 / (nz - 1) as f64).sin()
        };
        if let Some(Buffer::F32(u0)) = inputs.buffers.get_mut("u0") {
            for z in 0..nz {
                for y in 0..ny {
                    for x in 0..nx {
                        u0[(z * ny + y) * nx + x] = mode(x, y, z) as f32;
                    }
                }
            }
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let u = out.f32("u").unwrap();
        let axes = [nx, ny, nz].map(|n| pi / (n - 1) as f64);
        let lambda = C0 as f64 + 2.0 * C1 as f64 * axes.iter().map(|a| a.cos()).sum::<f64>();
        let decay = lambda.powi(steps as i32);
        // The kernel applies the discrete decay to every point.
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let got = u[(z * ny + y) * nx + x] as f64;
                    let want = decay * mode(x, y, z);
                    assert!((got - want).abs() < 2e-6, "({x},{y},{z}): {got} vs {want}");
                }
            }
        }
        // And the discrete decay is the heat equation's, to O(h^2).
        let rate = -lambda.ln();
        let exact = C1 as f64 * axes.iter().map(|a| a * a).sum::<f64>();
        let bound = axes[2] * axes[2] / 12.0;
        assert!(
            (rate / exact - 1.0).abs() <= bound,
            "rate {rate:.6e} vs heat equation {exact:.6e}"
        );
        assert!(decay < 0.5, "{decay}");
    }

    #[test]
    fn cpu_passes_and_a_wrong_point_fails() {
        let k = Stencil3d;
        let inputs = k.generate(&size(37, 19, 23, 5), 3).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        cpu.run(); // iterations repeat: same result
        let mut out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 37 * 19 * 23);
        if let Some(Buffer::F32(u)) = out.get_mut("u") {
            u[(10 * 19 + 7) * 37 + 5] += 1e-3;
        }
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(!v.passed);
        assert!(
            v.detail.starts_with("u[7294] (x 5, y 7, z 10)"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn local_reference_equals_the_full_one() {
        let g = Grid::of(&size(20, 17, 15, 4)).unwrap();
        let u0 = crate::rng::uniform_f32(9, 1, g.points(), 0.0, 1.0);
        let full = reference_full(&g, &u0);
        for i in [0, 1, 21, 2000, 3333, g.points() - 1] {
            assert_eq!(reference_at(&g, &u0, i), full[i], "point {i}");
        }
    }

    #[test]
    fn sampled_check_on_a_large_grid_passes_and_catches_a_wrong_corner() {
        let k = Stencil3d;
        let inputs = k.generate(&size(161, 160, 165, 3), 5).unwrap();
        const { assert!(161 * 160 * 165 > FULL_CHECK_POINTS) };
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, SAMPLED_POINTS as u64);
        if let Some(Buffer::F32(u)) = out.get_mut("u") {
            let last = u.len() - 1;
            u[last] += 1e-3;
        }
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(!v.passed);
        assert!(v.detail.starts_with("u[4250399]"), "{}", v.detail);
    }

    #[test]
    fn work_counts_point_updates() {
        let w = Stencil3d.work(&size(10, 10, 10, 8)).unwrap();
        assert_eq!((w.items, w.flops, w.bytes), (8000.0, 64000.0, 64000.0));
    }
}
