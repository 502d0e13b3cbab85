//! `nbody`: all-pairs gravitational accelerations with Plummer softening.
//!
//! a_i = sum_j m_j (r_j - r_i) / (|r_j - r_i|^2 + eps^2)^(3/2), in f32 or f64, one
//! force evaluation over n bodies (the O(n^2) core of direct N-body codes).
//! The self term is zero by construction (r_j - r_i = 0). Work: 20 FLOP per
//! interaction, the convention of Nyland, Harris and Prins (GPU Gems 3,
//! ch. 31), so that figures compare with published ones.
//!
//! The CPU implementation runs 16 interactions per step in explicit lanes,
//! compiled for AVX-512, AVX2+FMA or baseline x86-64 and picked at run time,
//! with a true square root and division (no approximate reciprocal), the
//! same arithmetic as the OpenMP peer in `scripts/peers/nbody.c`.
//!
//! Verification: a seeded sample of bodies (first and last included) against
//! f64 sums over all j, each component within `rel * sum_j |term_j|`; every
//! output must be finite.

use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, groups_for, param_u32, sample_indices,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::Real;
use crate::multiversion;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("nbody", NBody, ["nbody/fpga.rs"]);

const MAX_N: usize = 1 << 24;
/// Bodies checked against f64 sums.
const SAMPLED_BODIES: usize = 512;
/// FLOP per interaction (GPU Gems 3 convention).
pub const FLOPS_PER_INTERACTION: f64 = 20.0;
const LANES: usize = 16;
/// Invocations per GPU workgroup.
const GROUP_SIZE: u32 = 256;
/// Invocations the GPU grid aims at: about 4 waves of an H200 (132 SMs x
/// 2048 resident threads = 270,336 per wave), so that small n still fills
/// the device and the last wave's tail is a small part of the run.
const TARGET_THREADS: usize = 1 << 20;
/// Most invocations per body: with tiles of 512 bodies, 64 leaves each
/// invocation 8 pairs per tile between two barriers; more would spend more
/// on staging and barriers than on pairs.
const MAX_THREADS_PER_BODY: usize = 64;
/// Bodies per rayon task.
const ROWS_PER_TASK: usize = 64;

pub struct NBody;

impl Kernel for NBody {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let n = size.usize("n", MAX_N)?;
        size.f64("softening", 1e-6..=1.0)?;
        let mut buffers = Buffers::default();
        // Bodies uniform in the cube [-1, 1)^3, total mass about 1.
        buffers.push(
            "x",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, n, -1.0, 1.0)),
        );
        buffers.push(
            "y",
            Buffer::F32(crate::rng::uniform_f32(seed, 2, n, -1.0, 1.0)),
        );
        buffers.push(
            "z",
            Buffer::F32(crate::rng::uniform_f32(seed, 3, n, -1.0, 1.0)),
        );
        let m = 1.0 / n as f32;
        buffers.push(
            "m",
            Buffer::F32(crate::rng::uniform_f32(seed, 4, n, 0.5 * m, 1.5 * m)),
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
            flops: FLOPS_PER_INTERACTION * n * n,
            // Read x, y, z, m once, write ax, ay, az once.
            bytes: 28.0 * n,
            items: n * n,
            item_unit: "interactions".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        // Inputs (4 arrays), the instance's copy and outputs, the read-back.
        Ok(4 * 14 * size.usize("n", MAX_N)? as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, nbody_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let n = inputs.size.usize("n", MAX_N)?;
        let eps = inputs.size.f64("softening", 1e-6..=1.0)? as f32;
        let k = threads_per_body(n);
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("x", n),
                LaunchBuffer::input("y", n),
                LaunchBuffer::input("z", n),
                LaunchBuffer::input("m", n),
                LaunchBuffer::output("ax", n),
                LaunchBuffer::output("ay", n),
                LaunchBuffer::output("az", n),
            ],
            params: vec![
                ("n", Arg::U32(param_u32(n, "n")?)),
                ("eps2", Arg::F32(eps * eps)),
                ("k", Arg::U32(k as u32)),
            ],
            dispatches: vec![Dispatch {
                entry: "nbody",
                groups: [groups_for(n * k, GROUP_SIZE)?, 1, 1],
                group_size: [GROUP_SIZE, 1, 1],
                chunk: None,
            }],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let n = inputs.size.usize("n", MAX_N)?;
        let eps = inputs.size.f64("softening", 1e-6..=1.0)? as f32;
        let eps2 = (eps * eps) as f64;
        let b = &inputs.buffers;
        let (x, y, z, m) = (b.f32("x")?, b.f32("y")?, b.f32("z")?, b.f32("m")?);
        let acc = [
            outputs.real("ax")?,
            outputs.real("ay")?,
            outputs.real("az")?,
        ];
        let mut checker = Checker::new(tol);
        for (name, a) in ["ax", "ay", "az"].iter().zip(acc) {
            if a.len() != n {
                checker.check(a.len() as f64, n as f64, 0.0, || {
                    format!("length of {name}")
                });
                return Ok(checker.finish());
            }
            if let Some(i) = (0..a.len()).find(|&i| !a.at(i).is_finite()) {
                checker.check(a.at(i), 0.0, 0.0, || format!("{name}[{i}] (not finite)"));
            }
        }
        let bodies = sample_indices(n, SAMPLED_BODIES, inputs.seed, 100);
        let refs: Vec<(usize, [f64; 3], [f64; 3])> = bodies
            .par_iter()
            .map(|&i| {
                let (xi, yi, zi) = (x[i] as f64, y[i] as f64, z[i] as f64);
                let (mut sum, mut scale) = ([0.0f64; 3], [0.0f64; 3]);
                for j in 0..n {
                    let d = [x[j] as f64 - xi, y[j] as f64 - yi, z[j] as f64 - zi];
                    let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + eps2;
                    let s = m[j] as f64 / (r2 * r2.sqrt());
                    for c in 0..3 {
                        sum[c] += d[c] * s;
                        scale[c] += (d[c] * s).abs();
                    }
                }
                (i, sum, scale)
            })
            .collect();
        for (i, sum, scale) in refs {
            for c in 0..3 {
                let name = ["ax", "ay", "az"][c];
                checker.check(acc[c].at(i), sum[c], scale[c], || format!("{name}[{i}]"));
            }
        }
        Ok(checker.finish())
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::NBodyFpga)
    }
}

/// GPU invocations per body: the smallest power of two that brings the
/// grid to [`TARGET_THREADS`], at most [`MAX_THREADS_PER_BODY`] (each
/// invocation sums every k-th body of each tile; the k partial sums are
/// added in workgroup memory). 64 at n <= 16384, 16 at 65536, 1 from 2^20.
fn threads_per_body(n: usize) -> usize {
    TARGET_THREADS
        .div_ceil(n.max(1))
        .next_power_of_two()
        .min(MAX_THREADS_PER_BODY)
}

/// The accelerations over any [`crate::fpga::Scalar`], as an HLS design
/// computes them: per pair d = r_j - r_i, r2 = d.d + eps2 (exact in the wide
/// type, one cast), inv = T(1) / sqrt(r2) (`hls::sqrt`, then the header's
/// division), s = m_j inv^3 (inv inv, then x inv, then x m, each cast), and
/// a_i += d s exactly in the wide type, cast once. The reciprocal square
/// root keeps the range small (inv <= 1/eps, where r2 sqrt(r2) would fall
/// to eps^3 and lose its digits in fixed point); in f64 it differs from the
/// verification's m / (r2 sqrt(r2)) by a few ulp, not bit for bit.
pub fn reference_generic<S: crate::fpga::Scalar>(pos: [&[S]; 3], m: &[S], eps2: S) -> [Vec<S>; 3] {
    let n = m.len();
    let one = S::from_f64(1.0);
    let acc: Vec<[S; 3]> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut a = [S::wide_zero(); 3];
            for j in 0..n {
                let d: [S; 3] = std::array::from_fn(|c| pos[c][j].sub(pos[c][i]));
                let r2 = S::from_wide(d.iter().fold(eps2.widen(), |w, &dc| S::mul_acc(w, dc, dc)));
                let inv = one.div(r2.sqrt());
                let s = inv.mul(inv).mul(inv).mul(m[j]);
                for c in 0..3 {
                    a[c] = S::mul_acc(a[c], d[c], s);
                }
            }
            a.map(S::from_wide)
        })
        .collect();
    std::array::from_fn(|c| acc.iter().map(|a| a[c]).collect())
}

struct NBodyCpu<T> {
    n: usize,
    eps2: T,
    x: Vec<T>,
    y: Vec<T>,
    z: Vec<T>,
    m: Vec<T>,
    ax: Vec<T>,
    ay: Vec<T>,
    az: Vec<T>,
}

fn nbody_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let n = inputs.size.usize("n", MAX_N)?;
    let eps = inputs.size.f64("softening", 1e-6..=1.0)? as f32;
    // Pad to whole lanes with massless bodies far away: they add exactly 0.
    let padded = n.next_multiple_of(LANES);
    let pad = |name: &str, fill: f32| -> Result<Vec<T>> {
        let mut p = T::input(inputs, name)?.to_vec();
        p.resize(padded, T::from_f32(fill));
        Ok(p)
    };
    Ok(Box::new(NBodyCpu {
        n,
        // eps^2 rounded to f32 in both variants, as the GPU parameter is.
        eps2: T::from_f32(eps * eps),
        x: pad("x", 1e3)?,
        y: pad("y", 1e3)?,
        z: pad("z", 1e3)?,
        m: pad("m", 0.0)?,
        ax: vec![T::ZERO; n],
        ay: vec![T::ZERO; n],
        az: vec![T::ZERO; n],
    }))
}

/// Bodies with their (padded) arrays, shared by every task.
struct Bodies<'a, T> {
    x: &'a [T],
    y: &'a [T],
    z: &'a [T],
    m: &'a [T],
    eps2: T,
}

/// Accelerations of bodies `first..first + ax.len()`.
#[inline(always)]
fn rows_body<T: Real, const FMA: bool>(
    bodies: &Bodies<T>,
    first: usize,
    ax: &mut [T],
    ay: &mut [T],
    az: &mut [T],
) {
    let (xs, ys, zs, ms) = (
        bodies.x.chunks_exact(LANES),
        bodies.y.chunks_exact(LANES),
        bodies.z.chunks_exact(LANES),
        bodies.m.chunks_exact(LANES),
    );
    for r in 0..ax.len() {
        let i = first + r;
        let (xi, yi, zi) = (bodies.x[i], bodies.y[i], bodies.z[i]);
        let mut sx = [T::ZERO; LANES];
        let mut sy = [T::ZERO; LANES];
        let mut sz = [T::ZERO; LANES];
        for (((xj, yj), zj), mj) in xs.clone().zip(ys.clone()).zip(zs.clone()).zip(ms.clone()) {
            for l in 0..LANES {
                let dx = xj[l] - xi;
                let dy = yj[l] - yi;
                let dz = zj[l] - zi;
                let r2 = T::mul_add::<FMA>(
                    dx,
                    dx,
                    T::mul_add::<FMA>(dy, dy, T::mul_add::<FMA>(dz, dz, bodies.eps2)),
                );
                let s = mj[l] / (r2 * r2.sqrt());
                sx[l] = T::mul_add::<FMA>(dx, s, sx[l]);
                sy[l] = T::mul_add::<FMA>(dy, s, sy[l]);
                sz[l] = T::mul_add::<FMA>(dz, s, sz[l]);
            }
        }
        ax[r] = lane_sum(&sx);
        ay[r] = lane_sum(&sy);
        az[r] = lane_sum(&sz);
    }
}

#[inline(always)]
fn lane_sum<T: Real>(v: &[T; LANES]) -> T {
    v.iter().fold(T::ZERO, |a, &b| a + b)
}

multiversion!(fn rows<T: Real>(bodies: &Bodies<T>, first: usize, ax: &mut [T], ay: &mut [T], az: &mut [T]) = rows_body);

impl<T: Real> CpuInstance for NBodyCpu<T> {
    fn run(&mut self) {
        let bodies = Bodies {
            x: &self.x,
            y: &self.y,
            z: &self.z,
            m: &self.m,
            eps2: self.eps2,
        };
        self.ax
            .par_chunks_mut(ROWS_PER_TASK)
            .zip(self.ay.par_chunks_mut(ROWS_PER_TASK))
            .zip(self.az.par_chunks_mut(ROWS_PER_TASK))
            .enumerate()
            .for_each(|(t, ((ax, ay), az))| rows(&bodies, t * ROWS_PER_TASK, ax, ay, az));
        debug_assert_eq!(self.ax.len(), self.n);
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("ax", T::buffer(self.ax.clone()));
        out.push("ay", T::buffer(self.ay.clone()));
        out.push("az", T::buffer(self.az.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;

    fn size(n: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [
                ("n".to_string(), Param::Int(n)),
                ("softening".to_string(), Param::Float(0.01)),
            ]
            .into(),
            source: "test".into(),
        }
    }

    #[test]
    fn two_bodies_attract_each_other() {
        let k = NBody;
        let mut inputs = k.generate(&size(2), 1).unwrap();
        let set = |b: &mut Buffers, name: &str, v: [f32; 2]| {
            if let Some(Buffer::F32(d)) = b.get_mut(name) {
                d.copy_from_slice(&v);
            }
        };
        set(&mut inputs.buffers, "x", [0.0, 1.0]);
        set(&mut inputs.buffers, "y", [0.0, 0.0]);
        set(&mut inputs.buffers, "z", [0.0, 0.0]);
        set(&mut inputs.buffers, "m", [1.0, 2.0]);
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let ax = out.f32("ax").unwrap();
        // a_0 = m_1 * 1 / (1 + 1e-4)^1.5, pointing to +x; a_1 = -m_0 * ...
        let f = 1.0 / (1.0f64 + 1e-4).powf(1.5);
        assert!((ax[0] as f64 - 2.0 * f).abs() < 1e-6, "{}", ax[0]);
        assert!((ax[1] as f64 + f).abs() < 1e-6, "{}", ax[1]);
        assert_eq!(out.f32("ay").unwrap(), &[0.0, 0.0]);
    }

    /// The kernel's f32 accelerations of bodies at `pos` (f64, cast) with
    /// masses `m`, softening 0.05.
    fn accelerations(pos: &[[f64; 3]], m: &[f32]) -> Vec<[f64; 3]> {
        let k = NBody;
        let n = pos.len();
        let mut size = size(n as i64);
        size.params.insert("softening".into(), Param::Float(0.05));
        let mut inputs = k.generate(&size, 1).unwrap();
        for (c, name) in ["x", "y", "z"].into_iter().enumerate() {
            if let Some(Buffer::F32(d)) = inputs.buffers.get_mut(name) {
                d.iter_mut().zip(pos).for_each(|(d, p)| *d = p[c] as f32);
            }
        }
        if let Some(Buffer::F32(d)) = inputs.buffers.get_mut("m") {
            d.copy_from_slice(m);
        }
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let [ax, ay, az] = ["ax", "ay", "az"].map(|c| out.f32(c).unwrap().to_vec());
        (0..n).map(|i| [ax[i] as f64, ay[i] as f64, az[i] as f64]).collect()
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // components of the bodies' vectors
    fn forces_follow_newton_momentum_and_energy_are_conserved() {
        // 64 bodies of the kernel's own inputs, at rest, collapsing for one
        // dynamical time under the kernel's f32 accelerations, integrated
        // with kick-drift-kick leapfrog in f64. Newton's third law: the
        // forces sum to zero; the Plummer-softened energy
        // sum m v^2 / 2 - sum_{i<j} m_i m_j / sqrt(r^2 + eps^2) (whose
        // gradient is the kernel's force) stays constant to O(dt^2).
        // Measured: 3.6e-6 at most over 500 steps, while the kinetic energy
        // grows to 44% of |E|.
        let n = 64;
        let inputs = NBody.generate(&size(n as i64), 9).unwrap();
        let b = &inputs.buffers;
        let m = b.f32("m").unwrap().to_vec();
        let (x, y, z) = (b.f32("x").unwrap(), b.f32("y").unwrap(), b.f32("z").unwrap());
        let mut pos: Vec<[f64; 3]> = (0..n).map(|i| [x[i], y[i], z[i]].map(f64::from)).collect();
        let mut vel = vec![[0.0f64; 3]; n];
        let energy = |pos: &[[f64; 3]], vel: &[[f64; 3]]| {
            let mut e = 0.0;
            for i in 0..n {
                let mi = m[i] as f64;
                e += 0.5 * mi * vel[i].iter().map(|v| v * v).sum::<f64>();
                for j in i + 1..n {
                    let r2: f64 = (0..3).map(|c| (pos[i][c] - pos[j][c]).powi(2)).sum();
                    e -= mi * m[j] as f64 / (r2 + 0.05f64 * 0.05).sqrt();
                }
            }
            e
        };
        let e0 = energy(&pos, &vel);
        let dt = 2e-3;
        let mut acc = accelerations(&pos, &m);
        let mut worst = 0.0f64;
        for _ in 0..500 {
            // Third law: sum m a = 0 up to f32 rounding of each term.
            for c in 0..3 {
                let net: f64 = (0..n).map(|i| m[i] as f64 * acc[i][c]).sum();
                let scale: f64 = (0..n).map(|i| (m[i] as f64 * acc[i][c]).abs()).sum();
                assert!(net.abs() <= 1e-5 * scale, "net force {net:e} of {scale:e}");
            }
            for i in 0..n {
                for c in 0..3 {
                    vel[i][c] += 0.5 * dt * acc[i][c];
                    pos[i][c] += dt * vel[i][c];
                }
            }
            acc = accelerations(&pos, &m);
            for i in 0..n {
                for c in 0..3 {
                    vel[i][c] += 0.5 * dt * acc[i][c];
                }
            }
            worst = worst.max(((energy(&pos, &vel) - e0) / e0).abs());
        }
        let kinetic: f64 = (0..n)
            .map(|i| 0.5 * m[i] as f64 * vel[i].iter().map(|v| v * v).sum::<f64>())
            .sum();
        // The collapse has turned a good part of the energy into motion.
        assert!(kinetic > 0.1 * e0.abs(), "kinetic {kinetic} of {e0}");
        assert!(worst < 1e-4, "energy moved by {worst:e} of {e0}");
    }

    #[test]
    fn far_from_a_cluster_the_pull_is_its_total_mass_over_r_squared() {
        // Newton's monopole: a probe at distance 50 from the kernel's
        // cluster (radius about 1, centre of mass c) feels M / r^2 towards c,
        // up to the quadrupole term, below (1 / 50)^2 = 4e-4 (measured 5e-6).
        let n = 1000;
        let inputs = NBody.generate(&size(n as i64), 5).unwrap();
        let b = &inputs.buffers;
        let mut m = b.f32("m").unwrap().to_vec();
        let mut pos: Vec<[f64; 3]> = (0..n)
            .map(|i| [b.f32("x").unwrap()[i], b.f32("y").unwrap()[i], b.f32("z").unwrap()[i]].map(f64::from))
            .collect();
        let total: f64 = m.iter().map(|&v| v as f64).sum();
        let c: Vec<f64> = (0..3)
            .map(|k| (0..n).map(|i| m[i] as f64 * pos[i][k]).sum::<f64>() / total)
            .collect();
        pos.push([c[0] + 30.0, c[1] - 40.0, c[2]]);
        m.push(1e-9);
        let a = accelerations(&pos, &m)[n];
        let expect = [-30.0, 40.0, 0.0].map(|d: f64| total * d / 50f64.powi(3));
        let err = (0..3).map(|k| (a[k] - expect[k]).powi(2)).sum::<f64>().sqrt();
        assert!(err < 1e-3 * total / 2500.0, "{a:?} against {expect:?}");
    }

    /// The generic reference in f64 (1/sqrt cubed) agrees with the
    /// verification's f64 sums within f64 rounding, 1e-13 of the sum of
    /// |terms|, not bit for bit.
    #[test]
    fn generic_reference_in_f64_agrees_with_the_f64_sums() {
        let k = NBody;
        let inputs = k.generate(&size(300), 9).unwrap();
        let b = &inputs.buffers;
        let f = |name: &str| b.f32(name).unwrap().iter().map(|&v| v as f64).collect::<Vec<f64>>();
        let (x, y, z, m) = (f("x"), f("y"), f("z"), f("m"));
        let eps = 0.01f32;
        let a = reference_generic([&x, &y, &z], &m, (eps * eps) as f64);
        let mut out = Buffers::default();
        for (name, v) in ["ax", "ay", "az"].iter().zip(a) {
            out.push(name, Buffer::F64(v));
        }
        let v = k.verify(&inputs, &out, Tolerance { rel: 1e-13, abs: 0.0 }).unwrap();
        assert!(v.passed && v.max_abs_error > 0.0, "{v:?}");
    }

    #[test]
    fn small_n_gets_several_invocations_per_body() {
        assert_eq!(threads_per_body(300), 64);
        assert_eq!(threads_per_body(4096), 64);
        assert_eq!(threads_per_body(16_384), 64);
        assert_eq!(threads_per_body(65_536), 16);
        assert_eq!(threads_per_body(1 << 20), 1);
        for n in [1usize, 300, 4096, 16_384, 65_536, 1 << 20, 3 << 20] {
            let k = threads_per_body(n);
            assert!(k.is_power_of_two() && (GROUP_SIZE as usize).is_multiple_of(k), "{n}: {k}");
            // Enough invocations where the cap allows it.
            assert!(n * k >= TARGET_THREADS || k == MAX_THREADS_PER_BODY, "{n}: {k}");
            // Every body is covered: groups of 256 / k bodies each.
            let launch = NBody.launch(&k_inputs(n)).unwrap();
            let groups = launch.dispatches[0].groups[0] as usize;
            assert!(groups * (GROUP_SIZE as usize / k) >= n, "{n}: {groups} groups");
            assert!((groups - 1) * (GROUP_SIZE as usize / k) < n, "{n}: {groups} groups");
            assert_eq!(launch.params[2], ("k", Arg::U32(k as u32)));
        }
    }

    /// Shape-only inputs (the launch reads the size alone).
    fn k_inputs(n: usize) -> Inputs {
        Inputs {
            size: size(n as i64),
            seed: 1,
            buffers: Buffers::default(),
        }
    }

    #[test]
    fn cpu_passes_and_a_wrong_body_fails() {
        let k = NBody;
        let inputs = k.generate(&size(1000), 4).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let tol = Tolerance {
            rel: 1e-4,
            abs: 0.0,
        };
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 3 * 512);
        if let Some(Buffer::F32(ay)) = out.get_mut("ay") {
            ay[999] *= 1.01;
        }
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(!v.passed);
        assert_eq!(v.detail.split(':').next().unwrap(), "ay[999]");
    }
}
