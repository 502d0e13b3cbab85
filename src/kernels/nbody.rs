//! `nbody`: all-pairs gravitational accelerations with Plummer softening.
//!
//! a_i = sum_j m_j (r_j - r_i) / (|r_j - r_i|^2 + eps^2)^(3/2), in f32, one
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
use crate::kernels::par::mul_add;
use crate::kernels::{
    Buffer, Buffers, BuiltinKernel, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch,
    LaunchBuffer, Scalar, SizeSpec, Tolerance, Verdict, Work, groups_for, param_u32,
    sample_indices,
};
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
        let n = inputs.size.usize("n", MAX_N)?;
        let eps = inputs.size.f64("softening", 1e-6..=1.0)? as f32;
        let b = &inputs.buffers;
        // Pad to whole lanes with massless bodies far away: they add exactly 0.
        let padded = n.next_multiple_of(LANES);
        let pad = |v: &[f32], fill: f32| {
            let mut p = v.to_vec();
            p.resize(padded, fill);
            p
        };
        Ok(Box::new(NBodyCpu {
            n,
            eps2: eps * eps,
            x: pad(b.f32("x")?, 1e3),
            y: pad(b.f32("y")?, 1e3),
            z: pad(b.f32("z")?, 1e3),
            m: pad(b.f32("m")?, 0.0),
            ax: vec![0.0; n],
            ay: vec![0.0; n],
            az: vec![0.0; n],
        }))
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
                ("n", Scalar::U32(param_u32(n, "n")?)),
                ("eps2", Scalar::F32(eps * eps)),
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
        let acc = [outputs.f32("ax")?, outputs.f32("ay")?, outputs.f32("az")?];
        let mut checker = Checker::new(tol);
        for (name, a) in ["ax", "ay", "az"].iter().zip(acc) {
            if a.len() != n {
                checker.check(a.len() as f64, n as f64, 0.0, || {
                    format!("length of {name}")
                });
                return Ok(checker.finish());
            }
            if let Some(i) = a.iter().position(|v| !v.is_finite()) {
                checker.check(a[i] as f64, 0.0, 0.0, || {
                    format!("{name}[{i}] (not finite)")
                });
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
                checker.check(acc[c][i] as f64, sum[c], scale[c], || {
                    format!("{name}[{i}]")
                });
            }
        }
        Ok(checker.finish())
    }
}

struct NBodyCpu {
    n: usize,
    eps2: f32,
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    m: Vec<f32>,
    ax: Vec<f32>,
    ay: Vec<f32>,
    az: Vec<f32>,
}

/// Bodies with their (padded) arrays, shared by every task.
struct Bodies<'a> {
    x: &'a [f32],
    y: &'a [f32],
    z: &'a [f32],
    m: &'a [f32],
    eps2: f32,
}

/// Accelerations of bodies `first..first + ax.len()`.
#[inline(always)]
fn rows_body<const FMA: bool>(
    bodies: &Bodies,
    first: usize,
    ax: &mut [f32],
    ay: &mut [f32],
    az: &mut [f32],
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
        let mut sx = [0.0f32; LANES];
        let mut sy = [0.0f32; LANES];
        let mut sz = [0.0f32; LANES];
        for (((xj, yj), zj), mj) in xs.clone().zip(ys.clone()).zip(zs.clone()).zip(ms.clone()) {
            for l in 0..LANES {
                let dx = xj[l] - xi;
                let dy = yj[l] - yi;
                let dz = zj[l] - zi;
                let r2 = mul_add::<FMA>(
                    dx,
                    dx,
                    mul_add::<FMA>(dy, dy, mul_add::<FMA>(dz, dz, bodies.eps2)),
                );
                let s = mj[l] / (r2 * r2.sqrt());
                sx[l] = mul_add::<FMA>(dx, s, sx[l]);
                sy[l] = mul_add::<FMA>(dy, s, sy[l]);
                sz[l] = mul_add::<FMA>(dz, s, sz[l]);
            }
        }
        ax[r] = sx.iter().sum();
        ay[r] = sy.iter().sum();
        az[r] = sz.iter().sum();
    }
}

multiversion!(fn rows(bodies: &Bodies, first: usize, ax: &mut [f32], ay: &mut [f32], az: &mut [f32]) = rows_body);

impl CpuInstance for NBodyCpu {
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
        out.push("ax", Buffer::F32(self.ax.clone()));
        out.push("ay", Buffer::F32(self.ay.clone()));
        out.push("az", Buffer::F32(self.az.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Param;

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
