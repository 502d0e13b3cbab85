//! `kalman_fit`: a batched Kalman filter fit of tracks, as ACTS and the
//! experiments' GPU fitters run it.
//!
//! Track model: a charged track in a uniform magnetic field along y, in the
//! forward parametrisation `(x, y, tx, ty, q/p)` at planes of constant z,
//! propagated with the parabolic (second-order) expansion of the helix:
//! `x' = x + tx dz + kappa q/p dz^2 / 2`, `tx' = tx + kappa q/p dz`,
//! `y' = y + ty dz`. The propagator is linear in the state, so the filter is
//! the exact least-squares fit and the f64 filter is an unambiguous
//! reference. Each plane adds multiple scattering (variance `scatter^2` to
//! tx and ty) and measures (x, y) with Gaussian noise `sigma`.
//!
//! Per track: a seed from the first two hits (its covariance in closed form,
//! with a q/p prior of unit variance), then predict + update on every further
//! plane with the full 5x5 covariance, f32. Output: the filtered parameters
//! at the last plane and the chi2. Hits are stored structure-of-arrays with
//! the track as the fast index (`hx[layer * tracks + t]`), parameters as
//! `params[p * tracks + t]`.
//!
//! The CPU implementation runs the same filter ([`seed`], then [`plane`]
//! per plane) on blocks of 16 tracks held lane-major (`cv[row][col][lane]`),
//! each plane one loop over the lanes that the compiler vectorises across
//! tracks (compiled for AVX-512, AVX2+FMA or baseline x86-64 and picked at
//! run time): the layout of tuned C fitters (`scripts/peers/kalman_fit_lanes.c`).
//!
//! Verification: every track (a seeded sample of 65536 above that) against
//! the f64 filter, parameters within `rel * sigma` (sigma from the f64
//! covariance) and chi2 within `rel * (1 + chi2)`.

use std::ops::{Add, Mul, Sub};

use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, grid_stride_groups, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::{SharedMut, mul_add};
use crate::multiversion;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("kalman_fit", KalmanFit, ["kalman_fit/fpga.rs"]);

const MAX_TRACKS: usize = 1 << 26;
const MAX_LAYERS: usize = 64;
/// Tracks checked against the f64 filter (all of them up to this many).
const SAMPLED_TRACKS: usize = 65_536;
/// Variance of the q/p prior of the seed, (1/GeV)^2.
pub const QOP_PRIOR_VAR: f32 = 1.0;
/// FLOP of one predict (state 8, F C 40, (F C) F^T 40, scattering 2) and
/// one update (residual 2, S 2, its inverse 7, gain 30, state 20,
/// covariance 100, chi2 10), counting each multiply and add.
pub const FLOPS_PER_PLANE: f64 = 90.0 + 171.0;
/// FLOP of the seed (two slopes).
pub const FLOPS_SEED: f64 = 4.0;
/// Tracks per CPU lane block.
const L: usize = 16;
/// Tracks per rayon task.
const TRACKS_PER_TASK: usize = 512;

pub struct KalmanFit;

/// The detector and noise model, as f32 (the f64 reference uses the same
/// rounded values).
#[derive(Debug, Clone, Copy)]
pub struct Model {
    pub layers: usize,
    pub spacing: f32,
    pub sigma: f32,
    pub scatter: f32,
    pub kappa: f32,
}

impl Model {
    fn from_size(size: &SizeSpec) -> Result<(usize, Model)> {
        Ok((
            size.usize("tracks", MAX_TRACKS)?,
            Model {
                layers: size.usize("layers", MAX_LAYERS)?.max(3),
                spacing: size.f64("spacing", 1e-3..=1e4)? as f32,
                sigma: size.f64("sigma", 1e-6..=10.0)? as f32,
                scatter: size.f64("scatter", 0.0..=1.0)? as f32,
                kappa: size.f64("kappa", 0.0..=1.0)? as f32,
            },
        ))
    }
}

/// A standard normal deviate from two counter-based uniforms (Box-Muller).
fn gauss(seed: u64, stream: u64, index: u64) -> f64 {
    let u1 = 1.0 - crate::rng::uniform(seed, stream, 2 * index);
    let u2 = crate::rng::uniform(seed, stream, 2 * index + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Track `t`'s true parameters at the last plane (after the scattering
/// there) and its hits (x, y) on every plane.
pub fn simulate(seed: u64, t: usize, m: &Model) -> ([f64; 5], Vec<(f64, f64)>) {
    let u = |s: u64, lo: f64, hi: f64| lo + (hi - lo) * crate::rng::uniform(seed, s, t as u64);
    let mut s = [
        u(1, -10.0, 10.0),
        u(2, -10.0, 10.0),
        u(3, -0.3, 0.3),
        u(4, -0.3, 0.3),
        u(5, -1.0, 1.0),
    ];
    let (dz, kappa) = (m.spacing as f64, m.kappa as f64);
    let noise = |stream: u64, layer: usize| gauss(seed, stream, (t * MAX_LAYERS + layer) as u64);
    let mut hits = Vec::with_capacity(m.layers);
    for layer in 0..m.layers {
        if layer > 0 {
            s[0] += dz * s[2] + 0.5 * kappa * dz * dz * s[4];
            s[1] += dz * s[3];
            s[2] += kappa * dz * s[4];
            s[2] += m.scatter as f64 * noise(10, layer);
            s[3] += m.scatter as f64 * noise(11, layer);
        }
        hits.push((
            s[0] + m.sigma as f64 * noise(12, layer),
            s[1] + m.sigma as f64 * noise(13, layer),
        ));
    }
    (s, hits)
}

/// The numbers the filter is written over: f64 (the reference), lanes of
/// f32, and the FPGA path's fixed point, tape and scheduler (`fpga.rs`).
pub trait FilterNumber: Copy + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> {
    fn from_f32(v: f32) -> Self;
    fn recip(self) -> Self;
    /// `a * b + c`, fused where the implementation chooses.
    fn mul_add(a: Self, b: Self, c: Self) -> Self;
}

impl FilterNumber for f64 {
    fn from_f32(v: f32) -> Self {
        v as f64
    }
    fn recip(self) -> Self {
        1.0 / self
    }
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        a * b + c
    }
}

/// The filtered parameters at the last plane, their covariance and chi2.
pub struct Fit<R> {
    pub params: [R; 5],
    pub cov: [[R; 5]; 5],
    pub chi2: R,
}

/// The constants of one plane step in the filter's arithmetic.
#[derive(Clone, Copy)]
pub struct Step<R> {
    a: R,
    b: R,
    c: R,
    s2: R,
    th2: R,
}

impl<R: FilterNumber> Step<R> {
    #[inline(always)]
    pub fn of(m: &Model) -> Self {
        let f = R::from_f32;
        let dz = m.spacing;
        Step {
            a: f(dz),
            b: f(0.5 * m.kappa * dz * dz),
            c: f(m.kappa * dz),
            s2: f(m.sigma * m.sigma),
            th2: f(m.scatter * m.scatter),
        }
    }
}

/// The seed at plane 1: position from hit 1, slopes from hits 0 and 1
/// (with the prior q/p = 0), and their covariance in closed form.
#[inline(always)]
pub fn seed<R: FilterNumber>(m: &Model, (x0, y0): (R, R), (x1, y1): (R, R)) -> ([R; 5], [[R; 5]; 5]) {
    let f = R::from_f32;
    let zero = f(0.0);
    let dz = m.spacing;
    let inv_dz = f(1.0 / dz);
    let x = [x1, y1, (x1 - x0) * inv_dz, (y1 - y0) * inv_dz, zero];
    let half_kdz = 0.5 * m.kappa * dz;
    let var_pos = m.sigma * m.sigma;
    let cov_pos_slope = var_pos / dz;
    let var_slope = 2.0 * var_pos / (dz * dz) + m.scatter * m.scatter;
    let mut cv = [[zero; 5]; 5];
    cv[0][0] = f(var_pos);
    cv[1][1] = f(var_pos);
    cv[0][2] = f(cov_pos_slope);
    cv[2][0] = f(cov_pos_slope);
    cv[1][3] = f(cov_pos_slope);
    cv[3][1] = f(cov_pos_slope);
    cv[2][2] = f(var_slope + half_kdz * half_kdz * QOP_PRIOR_VAR);
    cv[3][3] = f(var_slope);
    cv[2][4] = f(half_kdz * QOP_PRIOR_VAR);
    cv[4][2] = f(half_kdz * QOP_PRIOR_VAR);
    cv[4][4] = f(QOP_PRIOR_VAR);
    (x, cv)
}

/// One plane: predict (x = F x, C = F C F^T + Q) and update with the hit
/// (x, y), H = [I2 0]; adds the hit's chi2 contribution.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // rows and columns of one matrix
pub fn plane<R: FilterNumber>(
    k: &Step<R>,
    x: &mut [R; 5],
    cv: &mut [[R; 5]; 5],
    chi2: &mut R,
    (hx, hy): (R, R),
) {
    let Step { a, b, c, s2, th2 } = *k;
    let zero = R::from_f32(0.0);
    // Predict, in place (each row/column of F C reads rows that are
    // updated after it).
    x[0] = R::mul_add(a, x[2], R::mul_add(b, x[4], x[0]));
    x[1] = R::mul_add(a, x[3], x[1]);
    x[2] = R::mul_add(c, x[4], x[2]);
    for j in 0..5 {
        cv[0][j] = R::mul_add(a, cv[2][j], R::mul_add(b, cv[4][j], cv[0][j]));
        cv[1][j] = R::mul_add(a, cv[3][j], cv[1][j]);
        cv[2][j] = R::mul_add(c, cv[4][j], cv[2][j]);
    }
    for row in cv.iter_mut() {
        row[0] = R::mul_add(a, row[2], R::mul_add(b, row[4], row[0]));
        row[1] = R::mul_add(a, row[3], row[1]);
        row[2] = R::mul_add(c, row[4], row[2]);
    }
    cv[2][2] = cv[2][2] + th2;
    cv[3][3] = cv[3][3] + th2;

    // Update.
    let r0 = hx - x[0];
    let r1 = hy - x[1];
    let s00 = cv[0][0] + s2;
    let s01 = cv[0][1];
    let s11 = cv[1][1] + s2;
    let inv = (s00 * s11 - s01 * s01).recip();
    let i00 = s11 * inv;
    let i01 = zero - s01 * inv;
    let i11 = s00 * inv;
    let (row0, row1) = (cv[0], cv[1]);
    for i in 0..5 {
        let k0 = R::mul_add(cv[i][0], i00, cv[i][1] * i01);
        let k1 = R::mul_add(cv[i][0], i01, cv[i][1] * i11);
        x[i] = R::mul_add(k0, r0, R::mul_add(k1, r1, x[i]));
        for j in 0..5 {
            cv[i][j] = cv[i][j] - R::mul_add(k0, row0[j], k1 * row1[j]);
        }
    }
    let u0 = R::mul_add(i00, r0, i01 * r1);
    let u1 = R::mul_add(i01, r0, i11 * r1);
    *chi2 = *chi2 + R::mul_add(r0, u0, r1 * u1);
}

/// The Kalman filter of one track: `hit(layer)` gives the measured (x, y).
/// Seeded from the first two hits; predict + update on every further
/// plane.
#[inline(always)]
pub fn fit<R: FilterNumber>(m: &Model, hit: impl Fn(usize) -> (R, R)) -> Fit<R> {
    let (mut x, mut cv) = seed(m, hit(0), hit(1));
    let step = Step::of(m);
    let mut chi2 = R::from_f32(0.0);
    for layer in 2..m.layers {
        plane(&step, &mut x, &mut cv, &mut chi2, hit(layer));
    }
    Fit {
        params: x,
        cov: cv,
        chi2,
    }
}

impl Kernel for KalmanFit {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let (n, m) = Model::from_size(size)?;
        let tracks: Vec<Vec<(f64, f64)>> = (0..n)
            .into_par_iter()
            .map(|t| simulate(seed, t, &m).1)
            .collect();
        let mut hx = vec![0.0f32; m.layers * n];
        let mut hy = vec![0.0f32; m.layers * n];
        for (t, hits) in tracks.iter().enumerate() {
            for (layer, &(x, y)) in hits.iter().enumerate() {
                hx[layer * n + t] = x as f32;
                hy[layer * n + t] = y as f32;
            }
        }
        let mut buffers = Buffers::default();
        buffers.push("hx", Buffer::F32(hx));
        buffers.push("hy", Buffer::F32(hy));
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let (n, m) = Model::from_size(size)?;
        let n = n as f64;
        Ok(Work {
            flops: n * (FLOPS_SEED + FLOPS_PER_PLANE * (m.layers - 2) as f64),
            // Read two coordinates per plane, write 5 parameters and chi2.
            bytes: n * 4.0 * (2.0 * m.layers as f64 + 6.0),
            items: n,
            item_unit: "tracks".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let (n, m) = Model::from_size(size)?;
        // Hits twice (inputs, the instance's copy) plus the generator's
        // per-track vectors; outputs three times.
        Ok(n as u64 * (4 * 2 * m.layers as u64 * 2 + 40 + 16 * m.layers as u64 + 3 * 24))
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        let (n, m) = Model::from_size(&inputs.size)?;
        Ok(Box::new(KalmanCpu {
            n,
            m,
            hx: inputs.buffers.f32("hx")?.to_vec(),
            hy: inputs.buffers.f32("hy")?.to_vec(),
            params: vec![0.0; 5 * n],
            chi2: vec![0.0; n],
        }))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let (n, m) = Model::from_size(&inputs.size)?;
        // Hits are bound in two parts of layers, each under lavapipe's and
        // WebGPU's 128 MiB storage binding at every manifest size.
        let split = m.layers.div_ceil(2);
        let (lo, hi) = (split * n, (m.layers - split) * n);
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input_part("hx", 0, lo),
                LaunchBuffer::input_part("hx", lo, hi),
                LaunchBuffer::input_part("hy", 0, lo),
                LaunchBuffer::input_part("hy", lo, hi),
                LaunchBuffer::output("params", 5 * n),
                LaunchBuffer::output("chi2", n),
            ],
            params: vec![
                ("n", Arg::U32(param_u32(n, "tracks")?)),
                ("layers", Arg::U32(m.layers as u32)),
                ("spacing", Arg::F32(m.spacing)),
                ("sigma", Arg::F32(m.sigma)),
                ("scatter", Arg::F32(m.scatter)),
                ("kappa", Arg::F32(m.kappa)),
                ("qop_var", Arg::F32(QOP_PRIOR_VAR)),
                ("split", Arg::U32(split as u32)),
            ],
            dispatches: vec![Dispatch {
                entry: "kalman_fit",
                groups: [grid_stride_groups(n, 64), 1, 1],
                group_size: [64, 1, 1],
                chunk: None,
            }],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let (n, m) = Model::from_size(&inputs.size)?;
        let (hx, hy) = (inputs.buffers.f32("hx")?, inputs.buffers.f32("hy")?);
        let params = outputs.f32("params")?;
        let chi2 = outputs.f32("chi2")?;
        let mut checker = Checker::new(tol);
        if params.len() != 5 * n || chi2.len() != n {
            checker.check(params.len() as f64, (5 * n) as f64, 0.0, || {
                "length of params".into()
            });
            checker.check(chi2.len() as f64, n as f64, 0.0, || "length of chi2".into());
            return Ok(checker.finish());
        }
        let tracks = sample_indices(n, SAMPLED_TRACKS, inputs.seed, 100);
        let refs: Vec<(usize, Fit<f64>)> = tracks
            .par_iter()
            .map(|&t| {
                let r = fit::<f64>(&m, |l| (hx[l * n + t] as f64, hy[l * n + t] as f64));
                (t, r)
            })
            .collect();
        const NAMES: [&str; 5] = ["x", "y", "tx", "ty", "q/p"];
        for (t, r) in &refs {
            for p in 0..5 {
                checker.check(
                    params[p * n + t] as f64,
                    r.params[p],
                    r.cov[p][p].max(0.0).sqrt(),
                    || format!("{} of track {t}", NAMES[p]),
                );
            }
            checker.check(chi2[*t] as f64, r.chi2, 1.0 + r.chi2, || {
                format!("chi2 of track {t}")
            });
        }
        Ok(checker.finish())
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::KalmanFpga)
    }
}

/// f32 whose `mul_add` fuses when `FMA` (the caller is compiled with FMA).
#[derive(Clone, Copy)]
struct F32<const FMA: bool>(f32);

impl<const FMA: bool> Add for F32<FMA> {
    type Output = Self;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        F32(self.0 + o.0)
    }
}

impl<const FMA: bool> Sub for F32<FMA> {
    type Output = Self;
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        F32(self.0 - o.0)
    }
}

impl<const FMA: bool> Mul for F32<FMA> {
    type Output = Self;
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        F32(self.0 * o.0)
    }
}

impl<const FMA: bool> FilterNumber for F32<FMA> {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        F32(v)
    }
    #[inline(always)]
    fn recip(self) -> Self {
        F32(1.0 / self.0)
    }
    #[inline(always)]
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        F32(mul_add::<FMA>(a.0, b.0, c.0))
    }
}

/// One plane's values of up to L tracks, padded with the last track so
/// that every lane stays finite.
#[inline(always)]
fn lanes_of(row: &[f32]) -> [f32; L] {
    if let Ok(full) = <&[f32; L]>::try_from(row) {
        // The common case, one vector load (a variable-length copy would be
        // a memcpy call per plane).
        return *full;
    }
    let last = row.len().saturating_sub(1);
    std::array::from_fn(|p| row.get(p.min(last)).copied().unwrap_or(0.0))
}

/// Outputs of one rayon task: class-major views shared by all tasks.
struct Out<'a> {
    params: &'a SharedMut<f32>,
    chi2: &'a SharedMut<f32>,
}

/// Tracks `first..first + count` (count <= TRACKS_PER_TASK), L at a time:
/// the state of L tracks is held lane-major (`x[param][lane]`,
/// `cv[row][col][lane]`) and each plane is one loop over the lanes running
/// [`plane`], which the compiler vectorises across tracks (the layout of
/// tuned C fitters; one SIMD lane per track).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lanes of several arrays at once
fn tracks_body<const FMA: bool>(
    m: &Model,
    hx: &[f32],
    hy: &[f32],
    n: usize,
    first: usize,
    count: usize,
    out: &Out,
) {
    type R<const F: bool> = F32<F>;
    let step = Step::<R<FMA>>::of(m);
    let zero = F32::<FMA>(0.0);
    let mut t0 = first;
    while t0 < first + count {
        let len = L.min(first + count - t0);
        // The hits of plane `layer` for the L lanes, padded with the last
        // track so that every lane stays finite.
        let lanes = |v: &[f32], layer: usize| lanes_of(&v[layer * n + t0..layer * n + t0 + len]);
        let mut x = [[zero; L]; 5];
        let mut cv = [[[zero; L]; 5]; 5];
        let mut chi = [zero; L];
        let (x0, y0, x1, y1) = (lanes(hx, 0), lanes(hy, 0), lanes(hx, 1), lanes(hy, 1));
        for l in 0..L {
            let (xs, cs) = seed(m, (F32(x0[l]), F32(y0[l])), (F32(x1[l]), F32(y1[l])));
            for i in 0..5 {
                x[i][l] = xs[i];
                for j in 0..5 {
                    cv[i][j][l] = cs[i][j];
                }
            }
        }
        for layer in 2..m.layers {
            let (px, py) = (lanes(hx, layer), lanes(hy, layer));
            for l in 0..L {
                let mut xs: [R<FMA>; 5] = std::array::from_fn(|i| x[i][l]);
                let mut cs: [[R<FMA>; 5]; 5] =
                    std::array::from_fn(|i| std::array::from_fn(|j| cv[i][j][l]));
                let mut c = chi[l];
                plane(&step, &mut xs, &mut cs, &mut c, (F32(px[l]), F32(py[l])));
                for i in 0..5 {
                    x[i][l] = xs[i];
                    for j in 0..5 {
                        cv[i][j][l] = cs[i][j];
                    }
                }
                chi[l] = c;
            }
        }
        for p in 0..5 {
            // SAFETY: tasks own disjoint track ranges; the buffers outlive
            // the parallel loop.
            let dst = unsafe { out.params.range(p * n + t0..p * n + t0 + len) };
            for (d, v) in dst.iter_mut().zip(&x[p]) {
                *d = v.0;
            }
        }
        // SAFETY: as above.
        let dst = unsafe { out.chi2.range(t0..t0 + len) };
        for (d, v) in dst.iter_mut().zip(&chi) {
            *d = v.0;
        }
        t0 += len;
    }
}

multiversion!(fn tracks(m: &Model, hx: &[f32], hy: &[f32], n: usize, first: usize, count: usize, out: &Out) = tracks_body);

struct KalmanCpu {
    n: usize,
    m: Model,
    hx: Vec<f32>,
    hy: Vec<f32>,
    params: Vec<f32>,
    chi2: Vec<f32>,
}

impl CpuInstance for KalmanCpu {
    fn run(&mut self) {
        let n = self.n;
        let params = SharedMut::new(&mut self.params);
        let chi2 = SharedMut::new(&mut self.chi2);
        let out = Out {
            params: &params,
            chi2: &chi2,
        };
        let (m, hx, hy) = (&self.m, &self.hx, &self.hy);
        (0..n.div_ceil(TRACKS_PER_TASK))
            .into_par_iter()
            .for_each(|task| {
                let first = task * TRACKS_PER_TASK;
                let count = TRACKS_PER_TASK.min(n - first);
                tracks(m, hx, hy, n, first, count, &out);
            });
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("params", Buffer::F32(self.params.clone()));
        out.push("chi2", Buffer::F32(self.chi2.clone()));
        out
    }
}

/// The tracks `verify` checks against the f64 filter for `n` tracks and
/// seed `seed` (all of them up to 65536).
pub fn checked_tracks(n: usize, seed: u64) -> Vec<usize> {
    sample_indices(n, SAMPLED_TRACKS, seed, 100)
}

/// The track count and detector model of a size.
pub fn model_of(size: &SizeSpec) -> Result<(usize, Model)> {
    Model::from_size(size)
}

/// Any [`crate::fpga::Scalar`] runs [`fit`]: each `+`, `-`, `*` and `1/x`
/// assigned back to the scalar, `mul_add` fused (`a * b + c` computed
/// exactly, one cast), as HLS C++ does with `ap_fixed` variables.
impl<S: crate::fpga::Scalar> FilterNumber for crate::fpga::Arith<S> {
    #[inline]
    fn from_f32(v: f32) -> Self {
        crate::fpga::Arith(S::from_f64(v as f64))
    }
    #[inline]
    fn recip(self) -> Self {
        crate::fpga::Arith(self.0.recip())
    }
    #[inline]
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        crate::fpga::Arith(S::from_wide(S::mul_acc(c.0.widen(), a.0, b.0)))
    }
}

/// The filter of every track in any [`crate::fpga::Scalar`] (f64: the very
/// arithmetic of `fit::<f64>`; `ap_fixed` for the FPGA emulation): the
/// parameters class-major (`params[p * n + t]`) and chi2. `hx`, `hy` are
/// laid out as the inputs. Tracks run in parallel.
pub fn reference_generic<S: crate::fpga::Scalar>(
    m: &Model,
    n: usize,
    hx: &[S],
    hy: &[S],
) -> (Vec<S>, Vec<S>) {
    use crate::fpga::Arith;
    let fits: Vec<([S; 5], S)> = (0..n)
        .into_par_iter()
        .map(|t| {
            let r = fit::<Arith<S>>(m, |l| (Arith(hx[l * n + t]), Arith(hy[l * n + t])));
            (r.params.map(|p| p.0), r.chi2.0)
        })
        .collect();
    let mut params = vec![S::zero(); 5 * n];
    let mut chi2 = vec![S::zero(); n];
    for (t, (p, c)) in fits.into_iter().enumerate() {
        for (k, v) in p.into_iter().enumerate() {
            params[k * n + t] = v;
        }
        chi2[t] = c;
    }
    (params, chi2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64) -> SizeSpec {
        let mut s = Registry::builtin()
            .unwrap()
            .get("kalman_fit")
            .unwrap()
            .size("tiny")
            .unwrap();
        s.params.insert("tracks".into(), Param::Int(n));
        s
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("kalman_fit")
            .unwrap()
            .manifest
            .tolerance
    }

    #[test]
    fn straight_noiseless_track_is_fitted_exactly() {
        // No field, no scattering: hits on the line x = 1 + 0.1 z,
        // y = -2 - 0.05 z give back the line with chi2 0.
        let m = Model {
            layers: 6,
            spacing: 10.0,
            sigma: 0.01,
            scatter: 0.0,
            kappa: 0.0,
        };
        let r = fit::<f64>(&m, |l| {
            let z = 10.0 * l as f64;
            (1.0 + 0.1 * z, -2.0 - 0.05 * z)
        });
        let want = [1.0 + 0.1 * 50.0, -2.0 - 0.05 * 50.0, 0.1, -0.05, 0.0];
        for (p, want) in want.iter().enumerate().take(4) {
            assert!((r.params[p] - want).abs() < 1e-7, "{p}: {}", r.params[p]);
        }
        assert!(r.chi2.abs() < 1e-6, "{}", r.chi2);
        // Variances shrink with every plane: 6 hits of 10 um.
        assert!(r.cov[0][0] < 1e-4 && r.cov[0][0] > 0.0);
    }

    #[test]
    fn curvature_is_measured() {
        // Noiseless hits of a track with q/p = 0.5: the fit finds it.
        let m = Model {
            layers: 10,
            spacing: 100.0,
            sigma: 0.05,
            scatter: 0.0,
            kappa: 6e-4,
        };
        let (k, dz) = (6e-4f64, 100.0f64);
        let r = fit::<f64>(&m, |l| {
            let z = dz * l as f64;
            (0.2 * z + 0.5 * k * 0.5 * z * z, 1.0)
        });
        assert!((r.params[4] - 0.5).abs() < 1e-3, "{}", r.params[4]);
        assert!((r.params[2] - (0.2 + k * 0.5 * 900.0)).abs() < 1e-5);
    }

    #[test]
    fn pulls_are_standard_normal() {
        let (n, m) = Model::from_size(&size(20_000)).unwrap();
        let mut sum = [0.0f64; 5];
        let mut sum2 = [0.0f64; 5];
        let mut chi2 = 0.0;
        for t in 0..n {
            let (truth, hits) = simulate(3, t, &m);
            let r = fit::<f64>(&m, |l| hits[l]);
            for p in 0..5 {
                let pull = (r.params[p] - truth[p]) / r.cov[p][p].sqrt();
                sum[p] += pull;
                sum2[p] += pull * pull;
            }
            chi2 += r.chi2;
        }
        for p in 0..5 {
            let mean = sum[p] / n as f64;
            let sd = (sum2[p] / n as f64 - mean * mean).sqrt();
            assert!(mean.abs() < 0.05, "pull mean of {p}: {mean}");
            assert!((sd - 1.0).abs() < 0.05, "pull sd of {p}: {sd}");
        }
        // The hits after the seed are 2 (layers - 2) measurements; q/p takes
        // one degree of freedom, and the prior (variance 1) counts as a
        // measurement of a q/p whose true variance is 1/3 (uniform in
        // [-1, 1]): E[chi2] = 2 (layers - 2) - 1 + 1/3. Its standard error
        // here is sqrt(2 * 15 / n) = 0.04.
        let want = 2.0 * (m.layers - 2) as f64 - 1.0 + 1.0 / 3.0;
        assert!((chi2 / n as f64 - want).abs() < 0.15, "{}", chi2 / n as f64);
    }

    #[test]
    fn without_a_field_the_chi2_is_chi_square_distributed() {
        // With kappa = 0 the hits do not depend on q/p, whose prior then
        // adds nothing: the chi2 of a right model is the sum of 2 (layers -
        // 2) normalised innovations, chi-square with 2 (layers - 2) degrees
        // of freedom exactly (the seed takes the first two hits). Pearson's
        // test of the 20,000 chi2 probabilities in 20 equal bins, refused
        // above chi2.ppf(0.999, 19) = 43.82; the f32 CPU kernel's chi2 too.
        let mut sz = size(20_000);
        sz.params.insert("kappa".into(), Param::Float(0.0));
        let (n, m) = Model::from_size(&sz).unwrap();
        let dof = 2 * (m.layers - 2);
        // P(chi2 <= x) for an even number of degrees of freedom, closed form.
        let cdf = |x: f64| {
            let (mut term, mut sum) = (1.0, 1.0);
            for k in 1..dof / 2 {
                term *= x / 2.0 / k as f64;
                sum += term;
            }
            1.0 - (-x / 2.0).exp() * sum
        };
        let pearson = |chi2: &mut dyn Iterator<Item = f64>| {
            let mut bins = [0u32; 20];
            for c in chi2 {
                bins[((cdf(c) * 20.0) as usize).min(19)] += 1;
            }
            let e = n as f64 / 20.0;
            bins.iter().map(|&b| (b as f64 - e).powi(2) / e).sum::<f64>()
        };
        let reference = pearson(&mut (0..n).map(|t| {
            let (_, hits) = simulate(3, t, &m);
            fit::<f64>(&m, |l| hits[l]).chi2
        }));
        assert!(reference < 43.82, "f64 filter: Pearson {reference:.1} over 19 dof");
        let inputs = KalmanFit.generate(&sz, 3).unwrap();
        let mut cpu = KalmanFit.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let got = pearson(&mut out.f32("chi2").unwrap().iter().map(|&c| c as f64));
        assert!(got < 43.82, "CPU kernel: Pearson {got:.1} over 19 dof");
    }

    #[test]
    fn generic_reference_in_f64_is_the_f64_filter() {
        let (n, m) = Model::from_size(&size(37)).unwrap();
        let inputs = KalmanFit.generate(&size(37), 4).unwrap();
        let f = |b: &str| -> Vec<f64> {
            inputs
                .buffers
                .f32(b)
                .unwrap()
                .iter()
                .map(|&v| v as f64)
                .collect()
        };
        let (hx, hy) = (f("hx"), f("hy"));
        let (params, chi2) = reference_generic(&m, n, &hx, &hy);
        for t in [0, 17, 36] {
            let r = fit::<f64>(&m, |l| (hx[l * n + t], hy[l * n + t]));
            for p in 0..5 {
                assert_eq!(params[p * n + t], r.params[p]);
            }
            assert_eq!(chi2[t], r.chi2);
        }
    }

    #[test]
    fn cpu_passes_and_a_wrong_parameter_fails() {
        let k = KalmanFit;
        let n = 1001;
        let inputs = k.generate(&size(n as i64), 5).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 6 * n as u64);
        assert!(v.worst_ratio < 0.2, "{v:?}");
        // Move q/p of the last track by a tenth of its uncertainty.
        let (_, m) = Model::from_size(&inputs.size).unwrap();
        let (hx, hy) = (
            inputs.buffers.f32("hx").unwrap(),
            inputs.buffers.f32("hy").unwrap(),
        );
        let t = n - 1;
        let r = fit::<f64>(&m, |l| (hx[l * n + t] as f64, hy[l * n + t] as f64));
        if let Some(Buffer::F32(p)) = out.get_mut("params") {
            p[4 * n + t] += 0.1 * r.cov[4][4].sqrt() as f32;
        }
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(!v.passed);
        assert!(v.detail.starts_with("q/p of track 1000"), "{}", v.detail);
    }
}
