//! `stream_triad`: a[i] = b[i] + s * c[i] (McCalpin's STREAM triad), in
//! f32 or f64.
//!
//! Stands for memory-bandwidth-bound code and gives the bandwidth ceiling of
//! each device's roofline. Bytes are counted as STREAM does: 12 per element
//! in f32, 24 in f64 (read b, read c, write a), without the write-allocate
//! traffic.

use crate::error::Result;
use crate::fpga::Scalar as FpgaScalar;
use crate::kernel::{
    Arg, Buffer, Chunk, Window, binding_chunks, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, grid_stride_groups, param_u32,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::{Real, SharedMut, first_touch_copy, for_each_static_range};
use crate::multiversion;
use rayon::prelude::*;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("stream_triad", StreamTriad, ["stream_triad/fpga.rs"]);

/// The scalar of the triad, as in STREAM.
pub const SCALAR: f32 = 3.0;
/// Largest element count accepted (16 GiB per array).
const MAX_N: usize = 1 << 32;
/// Threads' ranges start on 64-byte boundaries.
const ALIGN: usize = 16;

pub struct StreamTriad;

impl Kernel for StreamTriad {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let n = size.usize("n", MAX_N)?;
        let mut buffers = Buffers::default();
        buffers.push(
            "b",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, n, -1.0, 1.0)),
        );
        buffers.push(
            "c",
            Buffer::F32(crate::rng::uniform_f32(seed, 2, n, -1.0, 1.0)),
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
            flops: 2.0 * n,
            bytes: 12.0 * n,
            items: n,
            item_unit: "elements".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        // Inputs b, c; the instance's a, b, c; the read-back a.
        Ok(6 * 4 * size.usize("n", MAX_N)? as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        crate::by_precision!(inputs, triad_cpu(inputs))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let n = inputs.size.usize("n", MAX_N)?;
        // Arrays larger than a device binds at once are worked on in
        // chunks: one dispatch per chunk, binding that chunk of a, b and c.
        let chunks = binding_chunks(n, 1);
        let whole = chunks.len() == 1;
        let dispatches = chunks
            .into_iter()
            .map(|r| {
                let len = r.len();
                // Grid-stride: as many workgroups as useful, at most the limit.
                let mut d = Dispatch::new("triad", [grid_stride_groups(len, 256), 1, 1], [256, 1, 1]);
                if !whole {
                    d.chunk = Some(Chunk {
                        windows: (0..3)
                            .map(|buffer| Window::covering(buffer, r.start, r.end, n))
                            .collect(),
                        params: vec![("n", Arg::U32(param_u32(len, "n")?))],
                    });
                }
                Ok(d)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::output("a", n),
                LaunchBuffer::input("b", n),
                LaunchBuffer::input("c", n),
            ],
            params: vec![("n", Arg::U32(param_u32(n, "n")?)), ("s", Arg::F32(SCALAR))],
            dispatches,
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let b = inputs.buffers.f32("b")?;
        let c = inputs.buffers.f32("c")?;
        let a = outputs.real("a")?;
        let mut checker = Checker::new(tol);
        if a.len() != b.len() {
            checker.check(a.len() as f64, b.len() as f64, 0.0, || "length of a".into());
            return Ok(checker.finish());
        }
        // Full check in f64, in parallel: find the worst element.
        let s = SCALAR as f64;
        let reference = |i: usize| {
            let want = b[i] as f64 + s * c[i] as f64;
            let scale = (b[i] as f64).abs() + (s * c[i] as f64).abs();
            (want, scale)
        };
        let worst = (0..a.len())
            .into_par_iter()
            .with_min_len(1 << 16)
            .map(|i| {
                let (want, scale) = reference(i);
                let err = (a.at(i) - want).abs();
                let ratio = if err.is_nan() {
                    f64::INFINITY
                } else {
                    err / (tol.abs + tol.rel * scale).max(f64::MIN_POSITIVE)
                };
                (i, ratio)
            })
            .reduce(|| (0, -1.0), |x, y| if y.1 > x.1 { y } else { x });
        // Record every element as checked, the worst one with its values.
        let i = worst.0;
        let (want, scale) = reference(i);
        checker.check(a.at(i), want, scale, || format!("a[{i}]"));
        let mut verdict = checker.finish();
        verdict.checked = a.len() as u64;
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::TriadFpga)
    }
}

/// The reference triad in any [`FpgaScalar`]: `a[i] = b[i] + s * c[i]` with
/// the product and sum exact in the wide type and one cast, as HLS does
/// for `a = b + s * c`.
pub fn reference_generic<S: FpgaScalar>(s: S, b: &[S], c: &[S]) -> Vec<S> {
    b.iter()
        .zip(c)
        .map(|(&b, &c)| S::from_wide(S::mul_acc(b.widen(), s, c)))
        .collect()
}

struct TriadCpu<T> {
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
}

fn triad_cpu<T: Real>(inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
    let b = first_touch_copy(T::input(inputs, "b")?, ALIGN);
    let c = first_touch_copy(T::input(inputs, "c")?, ALIGN);
    let mut a = vec![T::ZERO; b.len()];
    let view = SharedMut::new(&mut a);
    for_each_static_range(b.len(), ALIGN, |r| {
        // SAFETY: static ranges are disjoint; `a` outlives the broadcast.
        unsafe { view.range(r) }.fill(T::ZERO);
    });
    Ok(Box::new(TriadCpu { a, b, c }))
}

#[inline(always)]
fn triad_body<T: Real, const FMA: bool>(a: &mut [T], b: &[T], c: &[T]) {
    let s = T::from_f32(SCALAR);
    for ((a, &b), &c) in a.iter_mut().zip(b).zip(c) {
        *a = T::mul_add::<FMA>(s, c, b);
    }
}

multiversion!(fn triad<T: Real>(a: &mut [T], b: &[T], c: &[T]) = triad_body);

impl<T: Real> CpuInstance for TriadCpu<T> {
    fn run(&mut self) {
        let view = SharedMut::new(&mut self.a);
        let (b, c) = (&self.b, &self.c);
        for_each_static_range(b.len(), ALIGN, |r| {
            // SAFETY: static ranges are disjoint; `a` outlives the broadcast.
            let a = unsafe { view.range(r.clone()) };
            triad(a, &b[r.clone()], &c[r]);
        });
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("a", T::buffer(self.a.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Registry;

    fn small(n: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [("n".to_string(), crate::kernel::Param::Int(n))].into(),
            source: "test".into(),
        }
    }

    #[test]
    fn cpu_matches_reference_and_corruption_is_caught() {
        let reg = Registry::builtin().unwrap();
        let tol = reg.get("stream_triad").unwrap().manifest.tolerance;
        let k = StreamTriad;
        let inputs = k.generate(&small(10_001), 5).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let b = inputs.buffers.f32("b").unwrap();
        let c = inputs.buffers.f32("c").unwrap();
        let a = out.f32("a").unwrap();
        assert!((a[7] - (b[7] + 3.0 * c[7])).abs() < 1e-6);
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 10_001);

        if let Some(Buffer::F32(a)) = out.get_mut("a") {
            a[9_999] += 0.01;
        }
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(!v.passed);
        assert!(v.detail.starts_with("a[9999]"), "{}", v.detail);
    }

    #[test]
    fn work_model_counts_stream_bytes() {
        let w = StreamTriad.work(&small(1000)).unwrap();
        assert_eq!((w.flops, w.bytes, w.items), (2000.0, 12000.0, 1000.0));
    }
}
