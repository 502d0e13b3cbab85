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

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("nbody", NBody);

const MAX_N: usize = 1 << 24;
/// Bodies checked against f64 sums.
const SAMPLED_BODIES: usize = 512;
/// FLOP per interaction (GPU Gems 3 convention).
pub const FLOPS_PER_INTERACTION: f64 = 20.0;
const LANES: usize = 16;
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
            ],
            dispatches: vec![Dispatch {
                entry: "nbody",
                groups: [groups_for(n, 256)?, 1, 1],
                group_size: [256, 1, 1],
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
