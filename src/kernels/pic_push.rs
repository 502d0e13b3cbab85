//! `pic_push`: the Boris particle push of particle-in-cell codes, f32 or
//! f64.
//!
//! n charged particles (structure of arrays: x, y, z, vx, vy, vz in one
//! buffer of 6n, in blocks of at most 2^21 particles each six arrays long,
//! so that a GPU binds one block at a time; see `Layout`) advance `steps` steps in the analytic fields of a Penning
//! trap with a magnetic bottle, q/m = 1 folded into h = dt/2:
//!
//! ```text
//! E = k (x, y, -2z),  B = b0 (-bb x z, -bb y z, 1 + bb z^2)   (div B = 0)
//! v- = v + hE;  t = hB;  s = 2t / (1 + t.t)
//! v' = v- + v- x t;  v+ = v- + v' x s;  v = v+ + hE;  r = r + dt v
//! ```
//!
//! Every step streams the particle arrays through memory, as the push of a
//! PIC code does between its field gather and current deposit: one dispatch
//! (GPU) or sweep (CPU) per step, ping-ponging between two states; the
//! first step reads the input, the last writes `p`. Work: 64 FLOP per push
//! (the division counted as one; see the README), 48 bytes per push (read
//! and write 6 floats), items = particle pushes.
//!
//! The CPU implementation gives each thread a static range of particles
//! (first-touch placement) and runs all steps on it (particles are
//! independent, so no barrier between steps), each step a vectorised sweep
//! compiled for AVX-512, AVX2+FMA or baseline x86-64.
//!
//! Verification: the f64 Boris trajectory from the f32 inputs, for every
//! particle up to 2^20 particles and a seeded sample of 65536 above (first
//! and last included), plus every output finite.
//!
//! On the FPGA emulation ([`fpga`]) the push is [`boris_step`] in
//! `ap_fixed<32,8>`, the factor 2 / (1 + t.t) divided as `ap_fixed.h`
//! divides.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, Chunk, CpuInstance, Dispatch, Inputs, Kernel, Launch,
    LaunchBuffer, SizeSpec, Tolerance, Verdict, WINDOW_ALIGN, Window, Work, grid_stride_groups,
    max_binding_elems, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::{Real, SharedMut, static_ranges};
use crate::multiversion;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("pic_push", PicPush, ["pic_push/fpga.rs"]);

/// Time step (cyclotron frequency 1: 0.1 rad per step).
pub const DT: f32 = 0.1;
/// Quadrupole strength of E (axial frequency^2 = 2k; stable for 4k < 1).
pub const K: f32 = 0.1;
/// Magnetic field on axis.
pub const B0: f32 = 1.0;
/// Bottle curvature: B_z = b0 (1 + bb z^2).
pub const BB: f32 = 0.05;
/// FLOP per push.
pub const FLOPS_PER_PUSH: f64 = 64.0;
const MAX_N: usize = (u32::MAX / 6) as usize;
const MAX_STEPS: usize = 1024;
const FULL_CHECK: usize = 1 << 20;
const SAMPLED: usize = 1 << 16;
/// Particles per static range are multiples of this (64-byte lines).
const ALIGN: usize = 16;

pub struct PicPush;

/// The state's layout: blocks of `block` particles (the last one shorter),
/// each block six component arrays (x, y, z, vx, vy, vz) of its length, so
/// that one block is contiguous and a GPU binds one block at a time when
/// the whole state is over its largest binding. With n up to `block` it is
/// plain structure of arrays, `c * n + i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    n: usize,
    block: usize,
}

impl Layout {
    /// The layout of `n` particles: one block where 6n reals of f64 fit a
    /// binding, else blocks of whole `WINDOW_ALIGN`s that each fit one.
    fn of(n: usize) -> Layout {
        let fits = max_binding_elems() / 6;
        let block = if n <= fits {
            n.max(1)
        } else {
            (fits / WINDOW_ALIGN * WINDOW_ALIGN).max(WINDOW_ALIGN)
        };
        Layout { n, block }
    }

    /// The particles of block `b`.
    fn block(&self, b: usize) -> Range<usize> {
        b * self.block..((b + 1) * self.block).min(self.n)
    }

    fn blocks(&self) -> usize {
        self.n.div_ceil(self.block)
    }

    /// The index of component `c` of particle `i`.
    fn at(&self, c: usize, i: usize) -> usize {
        let r = self.block(i / self.block);
        6 * r.start + c * r.len() + (i - r.start)
    }

    /// The component and particle of index `j`.
    fn of_index(&self, j: usize) -> (usize, usize) {
        let r = self.block(j / (6 * self.block));
        let within = j - 6 * r.start;
        (within / r.len(), r.start + within % r.len())
    }

    /// The parts of particles `r` that lie in one block each.
    fn segments(&self, r: Range<usize>) -> impl Iterator<Item = Range<usize>> + '_ {
        let (first, last) = (r.start / self.block, r.end.div_ceil(self.block));
        (first..last).map(move |b| {
            let blk = self.block(b);
            blk.start.max(r.start)..blk.end.min(r.end)
        })
    }
}

fn params(size: &SizeSpec) -> Result<(usize, usize)> {
    Ok((size.usize("n", MAX_N)?, size.usize("steps", MAX_STEPS)?))
}

impl Kernel for PicPush {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let (n, _) = params(size)?;
        // Positions and velocities uniform in [-1, 1)^3 (bounded orbits).
        let components: Vec<Vec<f32>> = (0..6)
            .map(|c| crate::rng::uniform_f32(seed, 1 + c, n, -1.0, 1.0))
            .collect();
        let layout = Layout::of(n);
        let mut state = Vec::with_capacity(6 * n);
        for b in 0..layout.blocks() {
            for comp in &components {
                state.extend_from_slice(&comp[layout.block(b)]);
            }
        }
        let mut buffers = Buffers::default();
        buffers.push("p0", Buffer::F32(state));
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let (n, steps) = params(size)?;
        let pushes = (n * steps) as f64;
        Ok(Work {
            flops: FLOPS_PER_PUSH * pushes,
            bytes: 48.0 * pushes,
            items: pushes,
            item_unit: "particle pushes".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let (n, _) = params(size)?;
        // Input, the instance's three states, two read back: 6 states of 6n
        // floats; the f64 reference of the checked particles is small.
        Ok(6 * 24 * n as u64 + 48 * n.min(FULL_CHECK) as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, push_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let (n, steps) = params(&inputs.size)?;
        param_u32(6 * n, "6n")?;
        let layout = Layout::of(n);
        let whole = layout.blocks() == 1;
        let mut dispatches = Vec::with_capacity(steps * layout.blocks());
        for k in 0..steps {
            let to_p = (steps - 1 - k).is_multiple_of(2);
            let entry = match (k == 0, to_p) {
                (true, true) => "in_to_p",
                (true, false) => "in_to_tmp",
                (false, true) => "tmp_to_p",
                (false, false) => "p_to_tmp",
            };
            // One dispatch per block, binding that block of each state.
            for b in 0..layout.blocks() {
                let r = layout.block(b);
                let groups = [grid_stride_groups(r.len(), 256), 1, 1];
                let mut d = Dispatch::new(entry, groups, [256, 1, 1]);
                if !whole {
                    d.chunk = Some(Chunk {
                        windows: (0..3)
                            .map(|buffer| Window::covering(buffer, 6 * r.start, 6 * r.end, 6 * n))
                            .collect(),
                        params: vec![("n", Arg::U32(param_u32(r.len(), "n")?))],
                    });
                }
                dispatches.push(d);
            }
        }
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("p0", 6 * n),
                LaunchBuffer::output("p", 6 * n),
                LaunchBuffer::output("tmp", 6 * n),
            ],
            params: vec![
                ("n", Arg::U32(param_u32(n, "n")?)),
                ("h", Arg::F32(0.5 * DT)),
                ("dt", Arg::F32(DT)),
                ("k", Arg::F32(K)),
                ("b0", Arg::F32(B0)),
                ("bb", Arg::F32(BB)),
            ],
            dispatches,
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let (n, steps) = params(&inputs.size)?;
        let p0 = inputs.buffers.f32("p0")?;
        let p = outputs.real("p")?;
        let mut checker = Checker::new(tol);
        if p.len() != 6 * n {
            checker.check(p.len() as f64, (6 * n) as f64, 0.0, || "length of p".into());
            return Ok(checker.finish());
        }
        const NAMES: [&str; 6] = ["x", "y", "z", "vx", "vy", "vz"];
        let layout = Layout::of(n);
        if let Some(j) = (0..p.len())
            .into_par_iter()
            .find_any(|&j| !p.at(j).is_finite())
        {
            let (c, i) = layout.of_index(j);
            checker.check(p.at(j), 0.0, 0.0, || {
                format!("{}[{i}] (not finite)", NAMES[c])
            });
        }
        let particles = checked_particles(n, inputs.seed);
        let refs: Vec<(usize, [f64; 6], [f64; 2])> = particles
            .par_iter()
            .map(|&i| {
                let s: [f64; 6] = std::array::from_fn(|c| p0[layout.at(c, i)] as f64);
                let (s, scale) = reference(s, steps);
                (i, s, scale)
            })
            .collect();
        for (i, want, scale) in refs {
            for c in 0..6 {
                checker.check(p.at(layout.at(c, i)), want[c], scale[c / 3], || {
                    format!("{}[{i}]", NAMES[c])
                });
            }
        }
        Ok(checker.finish())
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::PicPushFpga)
    }
}

/// The particles the verification compares: all up to `FULL_CHECK`, a
/// seeded sample above.
fn checked_particles(n: usize, seed: u64) -> Vec<usize> {
    if n <= FULL_CHECK {
        (0..n).collect()
    } else {
        sample_indices(n, SAMPLED, seed, 300)
    }
}

/// The constants of one push in any [`crate::fpga::Scalar`], folded as an
/// HLS design folds them (each from the f32 parameters in f64, then one
/// conversion to the type): h k, -2 h k, -h b0 bb, h b0, h b0 bb, dt.
pub struct BorisConstants<S> {
    hk: S,
    m2hk: S,
    nhc: S,
    hb0: S,
    hb0bb: S,
    dt: S,
    one: S,
    two: S,
}

impl<S: crate::fpga::Scalar> BorisConstants<S> {
    pub fn new() -> Self {
        let (dt, k, b0, bb) = (DT as f64, K as f64, B0 as f64, BB as f64);
        let h = 0.5 * dt;
        BorisConstants {
            hk: S::from_f64(h * k),
            m2hk: S::from_f64(-2.0 * h * k),
            nhc: S::from_f64(-(h * b0 * bb)),
            hb0: S::from_f64(h * b0),
            hb0bb: S::from_f64(h * b0 * bb),
            dt: S::from_f64(dt),
            one: S::from_f64(1.0),
            two: S::from_f64(2.0),
        }
    }
}

impl<S: crate::fpga::Scalar> BorisConstants<S> {
    /// The constants [`boris_step`] multiplies by, with their uses per
    /// push (h k twice, -2 h k once, -h b0 bb twice, h b0 bb once, dt
    /// three times).
    pub fn multipliers(&self) -> [(S, u64); 5] {
        [(self.hk, 2), (self.m2hk, 1), (self.nhc, 2), (self.hb0bb, 1), (self.dt, 3)]
    }
}

impl<S: crate::fpga::Scalar> Default for BorisConstants<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// `base + b x c` per component as one HLS statement (the products and the
/// sum exact in the wide type, one cast), with `extra` added in it.
fn plus_cross<S: crate::fpga::Scalar>(base: [S; 3], b: [S; 3], c: [S; 3], extra: Option<([S; 3], S)>) -> [S; 3] {
    std::array::from_fn(|i| {
        let (j, k) = ((i + 1) % 3, (i + 2) % 3);
        let w = S::mul_acc(base[i].widen(), b[j], c[k]);
        let mut w = S::mul_acc(w, S::zero().sub(b[k]), c[j]);
        if let Some((e, one)) = extra {
            w = S::mul_acc(w, e[i], one);
        }
        S::from_wide(w)
    })
}

/// One Boris push of one particle (x, y, z, vx, vy, vz) over any
/// [`crate::fpga::Scalar`], as an HLS design computes it, one statement per
/// line (a statement's products and sums exact, one cast at its end, as
/// `ap_fixed.h`'s expression types are):
///
/// ```text
/// he = (hk x, hk y, -2hk z);  v- = v + he
/// xz, yz, zz = x z, y z, z z;  t = (-hc xz, -hc yz, hb0 + hb0bb zz)   (hc = h b0 bb)
/// d = 1 + t.t;  f = 2 / d   (ap_fixed.h's division, truncated toward zero)
/// s = f t;  v' = v- + v- x t;  v = v- + v' x s + he;  r = r + dt v
/// ```
///
/// 21 products of variables, 9 by constants, 25 additions and one
/// division. In f64 it is the verification's Boris step with the constants
/// folded and the sums associated otherwise: not bit for bit (a test holds
/// the two within 1e-13).
pub fn boris_step<S: crate::fpga::Scalar>(p: [S; 6], c: &BorisConstants<S>) -> [S; 6] {
    let [x, y, z, vx, vy, vz] = p;
    let he = [c.hk.mul(x), c.hk.mul(y), c.m2hk.mul(z)];
    let vm = [vx.add(he[0]), vy.add(he[1]), vz.add(he[2])];
    let (xz, yz, zz) = (x.mul(z), y.mul(z), z.mul(z));
    let t = [
        c.nhc.mul(xz),
        c.nhc.mul(yz),
        S::from_wide(S::mul_acc(c.hb0.widen(), c.hb0bb, zz)),
    ];
    let d = S::from_wide(t.iter().fold(c.one.widen(), |w, &tc| S::mul_acc(w, tc, tc)));
    let f = c.two.div(d);
    let s = t.map(|tc| f.mul(tc));
    let vp = plus_cross(vm, vm, t, None);
    let v = plus_cross(vm, vp, s, Some((he, c.one)));
    let r = [x, y, z];
    let r: [S; 3] = std::array::from_fn(|i| S::from_wide(S::mul_acc(r[i].widen(), c.dt, v[i])));
    [r[0], r[1], r[2], v[0], v[1], v[2]]
}

/// The f64 Boris trajectory of one particle (x, y, z, vx, vy, vz) after
/// `steps` steps, and the largest |r| and |v| along it (the scales of the
/// rounding errors of positions and velocities).
fn reference(mut s: [f64; 6], steps: usize) -> ([f64; 6], [f64; 2]) {
    let (dt, k, b0, bb) = (DT as f64, K as f64, B0 as f64, BB as f64);
    let h = 0.5 * dt;
    let norm = |a: f64, b: f64, c: f64| (a * a + b * b + c * c).sqrt();
    let mut scale = [norm(s[0], s[1], s[2]), norm(s[3], s[4], s[5])];
    for _ in 0..steps {
        let [x, y, z, vx, vy, vz] = s;
        let he = [h * k * x, h * k * y, -2.0 * h * k * z];
        let vm = [vx + he[0], vy + he[1], vz + he[2]];
        let b = [-b0 * bb * x * z, -b0 * bb * y * z, b0 * (1.0 + bb * z * z)];
        let t = [h * b[0], h * b[1], h * b[2]];
        let f = 2.0 / (1.0 + t[0] * t[0] + t[1] * t[1] + t[2] * t[2]);
        let sv = [f * t[0], f * t[1], f * t[2]];
        let vp = [
            vm[0] + vm[1] * t[2] - vm[2] * t[1],
            vm[1] + vm[2] * t[0] - vm[0] * t[2],
            vm[2] + vm[0] * t[1] - vm[1] * t[0],
        ];
        let v = [
            vm[0] + vp[1] * sv[2] - vp[2] * sv[1] + he[0],
            vm[1] + vp[2] * sv[0] - vp[0] * sv[2] + he[1],
            vm[2] + vp[0] * sv[1] - vp[1] * sv[0] + he[2],
        ];
        s = [
            x + dt * v[0],
            y + dt * v[1],
            z + dt * v[2],
            v[0],
            v[1],
            v[2],
        ];
        scale[0] = scale[0].max(norm(s[0], s[1], s[2]));
        scale[1] = scale[1].max(norm(v[0], v[1], v[2]));
    }
    (s, scale)
}

fn push_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let (n, steps) = params(&inputs.size)?;
    let src = T::input(inputs, "p0")?;
    let ranges = static_ranges(n, rayon::current_num_threads(), ALIGN);
    let layout = Layout::of(n);
    let touch = |fill: Option<&[T]>| {
        let mut v = vec![T::ZERO; 6 * n];
        let view = SharedMut::new(&mut v);
        rayon::broadcast(|ctx| {
            for seg in layout.segments(ranges[ctx.index()].clone()) {
                for c in 0..6 {
                    let r = layout.at(c, seg.start)..layout.at(c, seg.start) + seg.len();
                    // SAFETY: ranges are disjoint and `v` outlives the broadcast.
                    let d = unsafe { view.range(r.clone()) };
                    match fill {
                        Some(s) => d.copy_from_slice(&s[r]),
                        None => d.fill(T::ZERO),
                    }
                }
            }
        });
        v
    };
    Ok(Box::new(PushCpu {
        n,
        layout,
        steps,
        p0: touch(Some(src)),
        p: touch(None),
        tmp: touch(None),
        ranges,
    }))
}

struct PushCpu<T> {
    n: usize,
    layout: Layout,
    steps: usize,
    p0: Vec<T>,
    p: Vec<T>,
    tmp: Vec<T>,
    /// Each thread's particles, the same on every run.
    ranges: Vec<Range<usize>>,
}

/// The base of a state that threads read and write at disjoint particle
/// ranges, as a raw pointer (no slice of the whole state is ever formed
/// while others write to it).
struct StatePtr<T>(*mut T);

impl<T> Clone for StatePtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for StatePtr<T> {}

// SAFETY: threads use disjoint particle ranges of the state (see `run`).
unsafe impl<T> Send for StatePtr<T> {}
unsafe impl<T> Sync for StatePtr<T> {}

impl<T> StatePtr<T> {
    /// Pointers to particle `start` of each of the six components.
    ///
    /// # Safety
    /// `start < n` of `layout` and the state holds `6n` floats.
    unsafe fn components(self, layout: &Layout, start: usize) -> [*mut T; 6] {
        // SAFETY: within the state, by the caller's promise.
        std::array::from_fn(|c| unsafe { self.0.add(layout.at(c, start)) })
    }
}

/// One push of `len` particles from `src` into `dst` (component pointers).
///
/// # Safety
/// Every pointer addresses `len` floats; `dst` ranges are not aliased.
#[inline(always)]
unsafe fn push_body<T: Real, const FMA: bool>(src: [*const T; 6], dst: [*mut T; 6], len: usize) {
    // SAFETY: the caller's promise.
    let s: [&[T]; 6] = std::array::from_fn(|c| unsafe { std::slice::from_raw_parts(src[c], len) });
    let [x, y, z, vx, vy, vz] = s;
    // SAFETY: the caller's promise.
    let d = unsafe {
        [
            std::slice::from_raw_parts_mut(dst[0], len),
            std::slice::from_raw_parts_mut(dst[1], len),
            std::slice::from_raw_parts_mut(dst[2], len),
            std::slice::from_raw_parts_mut(dst[3], len),
            std::slice::from_raw_parts_mut(dst[4], len),
            std::slice::from_raw_parts_mut(dst[5], len),
        ]
    };
    let [ox, oy, oz, ovx, ovy, ovz] = d;
    // The f32 constants (as the GPU parameters are), products in T.
    let f32 = T::from_f32;
    let (h, dt, k, b0, bb) = (f32(0.5 * DT), f32(DT), f32(K), f32(B0), f32(BB));
    let (hk, c) = (h * k, b0 * bb);
    let (one, two) = (T::ONE, f32(2.0));
    let m = T::mul_add::<FMA>;
    for i in 0..len {
        let (x, y, z) = (x[i], y[i], z[i]);
        let he = [hk * x, hk * y, hk * (-(two * z))];
        let vm = [vx[i] + he[0], vy[i] + he[1], vz[i] + he[2]];
        let b = [-c * (x * z), -c * (y * z), b0 * m(bb, z * z, one)];
        let t = [h * b[0], h * b[1], h * b[2]];
        let f = two / (one + m(t[0], t[0], m(t[1], t[1], t[2] * t[2])));
        let s = [f * t[0], f * t[1], f * t[2]];
        let vp = [
            vm[0] + m(vm[1], t[2], -(vm[2] * t[1])),
            vm[1] + m(vm[2], t[0], -(vm[0] * t[2])),
            vm[2] + m(vm[0], t[1], -(vm[1] * t[0])),
        ];
        let v = [
            vm[0] + m(vp[1], s[2], -(vp[2] * s[1])) + he[0],
            vm[1] + m(vp[2], s[0], -(vp[0] * s[2])) + he[1],
            vm[2] + m(vp[0], s[1], -(vp[1] * s[0])) + he[2],
        ];
        ox[i] = m(dt, v[0], x);
        oy[i] = m(dt, v[1], y);
        oz[i] = m(dt, v[2], z);
        ovx[i] = v[0];
        ovy[i] = v[1];
        ovz[i] = v[2];
    }
}

#[inline(always)]
fn push_safe_body<T: Real, const FMA: bool>(src: [*const T; 6], dst: [*mut T; 6], len: usize) {
    // SAFETY: only called through `push_range`, which checks the bounds.
    unsafe { push_body::<T, FMA>(src, dst, len) }
}

multiversion!(fn push_ptrs<T: Real>(src: [*const T; 6], dst: [*mut T; 6], len: usize) = push_safe_body);

/// One push of particles `r` from the state `src` into the state `dst`.
///
/// # Safety
/// Both states hold `6n` floats, `r` is within `0..n`, and no other thread
/// touches particles `r` of `dst` meanwhile.
unsafe fn push_range<T: Real>(src: StatePtr<T>, dst: StatePtr<T>, layout: &Layout, r: &Range<usize>) {
    // Each block's components are contiguous: one sweep per block.
    for seg in layout.segments(r.clone()) {
        if seg.is_empty() {
            continue;
        }
        // SAFETY: the caller's promise; `seg` lies in one block of `r`.
        let (s, d) = unsafe { (src.components(layout, seg.start), dst.components(layout, seg.start)) };
        push_ptrs(s.map(|p| p as *const T), d, seg.len());
    }
}

impl<T: Real> CpuInstance for PushCpu<T> {
    fn run(&mut self) {
        let (n, steps, layout) = (self.n, self.steps, self.layout);
        if self.ranges.len() != rayon::current_num_threads() {
            self.ranges = static_ranges(n, rayon::current_num_threads(), ALIGN);
        }
        let p0 = StatePtr(self.p0.as_mut_ptr());
        let p = StatePtr(self.p.as_mut_ptr());
        let tmp = StatePtr(self.tmp.as_mut_ptr());
        let ranges = &self.ranges;
        // Particles are independent: each thread runs every step on its own
        // range, streaming the whole range through memory each step.
        rayon::broadcast(|ctx| {
            let r = &ranges[ctx.index()];
            if r.is_empty() {
                return;
            }
            for k in 0..steps {
                let to_p = (steps - 1 - k).is_multiple_of(2);
                let (dst, other) = if to_p { (p, tmp) } else { (tmp, p) };
                let src = if k == 0 { p0 } else { other };
                // SAFETY: three states of 6n floats; ranges are disjoint and
                // a thread reads only its own range of the source.
                unsafe { push_range(src, dst, &layout, r) };
            }
        });
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("p", T::buffer(self.p.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64, steps: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [
                ("n".to_string(), Param::Int(n)),
                ("steps".to_string(), Param::Int(steps)),
            ]
            .into(),
            source: "test".into(),
        }
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("pic_push")
            .unwrap()
            .manifest
            .tolerance
    }

    /// Blocks of the layout: every index is one (component, particle), a
    /// block's six arrays are its length, and a range splits at blocks.
    #[test]
    fn the_blocked_layout_covers_each_index_once() {
        let l = Layout { n: 2500, block: 1024 };
        assert_eq!(l.blocks(), 3);
        let mut seen = vec![false; 6 * l.n];
        for i in 0..l.n {
            for c in 0..6 {
                let j = l.at(c, i);
                assert!(!seen[j], "{c} {i}");
                seen[j] = true;
                assert_eq!(l.of_index(j), (c, i));
            }
        }
        assert!(seen.iter().all(|&s| s));
        // The last block (452 particles) is six arrays of 452.
        assert_eq!(l.at(1, 2048), 6 * 2048 + 452);
        let segs: Vec<_> = l.segments(1000..2100).collect();
        assert_eq!(segs, vec![1000..1024, 1024..2048, 2048..2100]);
        // Up to one binding's worth it is plain structure of arrays.
        let small = Layout::of(1000);
        assert_eq!((small.blocks(), small.at(3, 7)), (1, 3 * 1000 + 7));
    }

    #[test]
    fn a_particle_at_the_centre_gyrates_by_hand() {
        // At the origin E = 0 and B = (0, 0, 1): a pure rotation of v by the
        // Boris angle 2 atan(dt/2), |v| kept, z untouched.
        let k = PicPush;
        let mut inputs = k.generate(&size(1, 1), 1).unwrap();
        if let Some(Buffer::F32(p0)) = inputs.buffers.get_mut("p0") {
            p0.copy_from_slice(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let p = out.f32("p").unwrap();
        let angle = 2.0 * (0.05f64).atan();
        // v x B with B = +z turns +x towards -y.
        assert!((p[3] as f64 - angle.cos()).abs() < 1e-6, "{p:?}");
        assert!((p[4] as f64 + angle.sin()).abs() < 1e-6, "{p:?}");
        assert_eq!(p[5], 0.0);
        assert!((p[0] as f64 - 0.1 * angle.cos()).abs() < 1e-7, "{p:?}");
        assert_eq!(p[2], 0.0);
    }

    /// The exact motion of a unit charge in the plane z = 0 of the trap,
    /// where B = (0, 0, B0) and E = K (x, y, 0) whatever the bottle: with
    /// u = x + iy, u'' = K u - i B0 u', so u = A e^{i w1 t} + C e^{i w2 t}
    /// with w^2 + B0 w + K = 0 (the magnetron and modified cyclotron modes
    /// of a Penning trap). Returns (A, w1), (C, w2) as (re, im, w) for
    /// u(0) = u0 and u'(0) = v0.
    fn penning_modes(u0: (f64, f64), v0: (f64, f64)) -> [(f64, f64, f64); 2] {
        let (b0, k) = (B0 as f64, K as f64);
        let root = (b0 * b0 - 4.0 * k).sqrt();
        let (w1, w2) = ((-b0 + root) / 2.0, (-b0 - root) / 2.0);
        // A = (v0 / i - w2 u0) / (w1 - w2), C = u0 - A.
        let a = (
            (v0.1 - w2 * u0.0) / (w1 - w2),
            (-v0.0 - w2 * u0.1) / (w1 - w2),
        );
        [(a.0, a.1, w1), (u0.0 - a.0, u0.1 - a.1, w2)]
    }

    #[test]
    fn a_charge_in_the_midplane_follows_the_exact_penning_orbit() {
        // The Boris push is leapfrog: positions at whole steps, velocities
        // half a step later, so the input velocity is v(-dt/2) and the
        // exact orbit starts from v(0) = v(-dt/2) + dt/2 a(0). Its phase
        // error per unit time is w (w dt)^2 / 12 per mode (Boris's rotation
        // angle 2 atan(w dt / 2) against w dt); the position may be off by
        // the modes' amplitudes times that phase, with a factor 2 of slack,
        // plus f32 rounding.
        let (x0, y0, vx, vy) = (0.5f64, 0.0f64, 0.0f64, 0.3f64);
        let (dt, k, b0) = (DT as f64, K as f64, B0 as f64);
        // a(0) = K u0 - i B0 v: (K x + B0 vy, K y - B0 vx).
        let v0 = (vx + dt / 2.0 * (k * x0 + b0 * vy), vy + dt / 2.0 * (k * y0 - b0 * vx));
        let modes = penning_modes((x0, y0), v0);
        for steps in [10usize, 100, 1000] {
            let t = steps as f64 * dt;
            let (mut ex, mut ey, mut bound) = (0.0, 0.0, 0.0);
            for (re, im, w) in modes {
                let (c, s) = ((w * t).cos(), (w * t).sin());
                ex += re * c - im * s;
                ey += re * s + im * c;
                bound += 2.0 * re.hypot(im) * w.abs() * t * (w * dt).powi(2) / 12.0;
            }
            let (r, _) = reference([x0, y0, 0.0, vx, vy, 0.0], steps);
            let err = (r[0] - ex).hypot(r[1] - ey);
            assert!(err <= bound, "{steps} steps: f64 off by {err:.2e} > {bound:.2e}");
            assert_eq!((r[2], r[5]), (0.0, 0.0), "the charge leaves the midplane");
            let kernel = PicPush;
            let mut inputs = kernel.generate(&size(1, steps as i64), 1).unwrap();
            if let Some(Buffer::F32(p0)) = inputs.buffers.get_mut("p0") {
                p0.copy_from_slice(&[x0 as f32, y0 as f32, 0.0, vx as f32, vy as f32, 0.0]);
            }
            let mut cpu = kernel.cpu(&inputs).unwrap();
            cpu.run();
            let p = cpu.outputs().f32("p").unwrap().to_vec();
            let err = (p[0] as f64 - ex).hypot(p[1] as f64 - ey);
            let slack = 1e-6 * steps as f64;
            assert!(err <= bound + slack, "{steps} steps: f32 off by {err:.2e}");
        }
    }

    #[test]
    fn the_push_conserves_energy_in_the_bottle() {
        // Static E and a B that does no work: v^2/2 + phi is a constant of
        // the exact motion, phi = -K (x^2 + y^2)/2 + K z^2. Leapfrog keeps
        // it to O(dt^2) without drift, taking v at the whole step as the mean
        // of the half-step velocities around it (after n steps the state is
        // x_n and v_{n-1/2}). Measured: at most 0.31%, 0.18% and 0.10% over
        // 1023 steps for these orbits through the whole bottle; a push whose
        // speed grew by 0.1% per step drifts by 460% to 1380%.
        let k = K as f64;
        let energy = |x: &[f64], v: &[f64]| {
            0.5 * (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) - 0.5 * k * (x[0] * x[0] + x[1] * x[1])
                + k * x[2] * x[2]
        };
        for s0 in [
            [0.5, 0.2, 0.3, 0.1, 0.3, 0.2],
            [1.0, -0.5, 0.8, 0.4, -0.2, 0.5],
            [0.9, 0.9, 0.9, 0.9, -0.9, 0.9],
        ] {
            let states: Vec<[f64; 6]> = std::iter::successors(Some(s0), |s| Some(reference(*s, 1).0))
                .take(MAX_STEPS + 1)
                .collect();
            let synced = |w: &[[f64; 6]]| {
                let v: Vec<f64> = (3..6).map(|c| (w[0][c] + w[1][c]) / 2.0).collect();
                energy(&w[0][..3], &v)
            };
            let e: Vec<f64> = states[1..].windows(2).map(synced).collect();
            let worst = e.iter().map(|x| (x - e[0]).abs() / e[0].abs()).fold(0.0, f64::max);
            assert!(worst < 5e-3, "{s0:?}: energy moves by {:.3}%", 100.0 * worst);
        }
    }

    /// The push over `Scalar` in f64 (constants folded, sums associated
    /// otherwise) is the verification's f64 trajectory within 1e-13 of the
    /// scale (the fixed-point tolerance's allowance for it), not bit for
    /// bit.
    #[test]
    fn the_generic_step_in_f64_is_the_reference() {
        let inputs = PicPush.generate(&size(500, 64), 4).unwrap();
        let p0 = inputs.buffers.f32("p0").unwrap();
        let c = BorisConstants::<f64>::new();
        let (mut worst, mut differs) = (0.0f64, false);
        for i in 0..500 {
            let s0: [f64; 6] = std::array::from_fn(|k| p0[k * 500 + i] as f64);
            let (want, scale) = reference(s0, 64);
            let got = (0..64).fold(s0, |s, _| boris_step(s, &c));
            for k in 0..6 {
                worst = worst.max((got[k] - want[k]).abs() / scale[k / 3]);
                differs |= got[k] != want[k];
            }
        }
        assert!(worst < 1e-13 && differs, "{worst:e}");
    }

    #[test]
    fn cpu_passes_and_a_wrong_particle_fails() {
        let k = PicPush;
        let inputs = k.generate(&size(1003, 8), 3).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        cpu.run();
        let mut out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 6 * 1003);
        if let Some(Buffer::F32(p)) = out.get_mut("p") {
            p[4 * 1003 + 500] += 1e-3;
        }
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(!v.passed);
        assert!(v.detail.starts_with("vy[500]"), "{}", v.detail);
    }

    #[test]
    fn work_counts_pushes() {
        let w = PicPush.work(&size(1000, 8)).unwrap();
        assert_eq!((w.items, w.flops, w.bytes), (8000.0, 512_000.0, 384_000.0));
    }
}
