//! Per-kernel FPGA adapters: how each kernel with a fixed-point path runs
//! bit-accurately, what pipelined design stands for it, and the tolerance
//! its fixed-point outputs are verified with. See `src/fpga/mod.rs` for how
//! a kernel plugs in.

use rayon::prelude::*;

use super::card::Card;
use super::fixed::{ApFixed, Format, o, q};
use super::model::{self, DenseShape, Design, Usage};
use super::scalar::Scalar;
use crate::error::{Error, Result};
use crate::kernels::{Buffer, Buffers, Inputs, Tolerance, gemm, stream_triad};

/// A kernel's fixed-point path.
pub trait FpgaKernel: Sync {
    /// Runs the kernel's own generic reference in `fmt`; outputs as f32
    /// buffers of the kernel's output names (exact for W <= 24).
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers>;
    /// The pipelined design at `inputs`' size on `card`.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design>;
    /// The tolerance of the fixed-point outputs against the f64 reference,
    /// with its derivation in words.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)>;
}

/// The adapter of kernel `name`, if it has a fixed-point path.
pub fn adapter(name: &str) -> Option<&'static dyn FpgaKernel> {
    match name {
        "gemm" => Some(&GemmFpga),
        "stream_triad" => Some(&TriadFpga),
        _ => None,
    }
}

/// The formats the emulation is compiled for (each a monomorphised
/// `ApFixed`): these widths with TRN/RND/RND_CONV and WRAP/SAT.
pub const FORMATS: &str = "ap_fixed<16,6>, <18,8>, <24,12>, <32,16> with AP_TRN, AP_RND or AP_RND_CONV and AP_WRAP or AP_SAT";

/// Picks the monomorphised instance of generic fn `$f` for format `$fmt`.
macro_rules! instance {
    ($fmt:expr, $f:ident, $ty:ty, [$(($w:literal, $i:literal)),*]) => {
        match ($fmt.width, $fmt.integer, $fmt.quant, $fmt.overflow) {
            $(
                ($w, $i, q::TRN, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::TRN }, { o::WRAP }>> as $ty),
                ($w, $i, q::TRN, o::SAT) => Some($f::<ApFixed<$w, $i, { q::TRN }, { o::SAT }>> as $ty),
                ($w, $i, q::RND, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::RND }, { o::WRAP }>> as $ty),
                ($w, $i, q::RND, o::SAT) => Some($f::<ApFixed<$w, $i, { q::RND }, { o::SAT }>> as $ty),
                ($w, $i, q::RND_CONV, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::RND_CONV }, { o::WRAP }>> as $ty),
                ($w, $i, q::RND_CONV, o::SAT) => Some($f::<ApFixed<$w, $i, { q::RND_CONV }, { o::SAT }>> as $ty),
            )*
            _ => None,
        }
    };
}

type EmuFn = fn(&Inputs) -> Result<Buffers>;

fn unsupported_format(fmt: &Format) -> Error {
    Error::Unsupported {
        backend: "fpga-emu".into(),
        message: format!("format {fmt} is not compiled in; supported: {FORMATS}"),
    }
}

fn quantize<S: Scalar>(v: &[f32]) -> Vec<S> {
    v.par_iter().map(|&x| S::from_f64(x as f64)).collect()
}

fn to_f32<S: Scalar>(v: &[S]) -> Vec<f32> {
    v.par_iter().map(|x| x.to_f64() as f32).collect()
}

/// Largest |value| of the inputs after quantisation to `fmt`.
fn max_abs(fmt: &Format, v: &[f32]) -> f64 {
    v.par_iter()
        .map(|&x| fmt.to_f64(fmt.from_f64(x as f64)).abs())
        .reduce(|| 0.0, f64::max)
}

/// Outputs are f32 buffers: exact for W <= 24, else rounded once more.
fn f32_rel(fmt: &Format) -> f64 {
    if fmt.width <= 24 { 0.0 } else { 2f64.powi(-24) }
}

struct GemmFpga;

fn gemm_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let n = inputs.size.usize("n", 32_768)?;
    let a = quantize::<S>(inputs.buffers.f32("a")?);
    let b = quantize::<S>(inputs.buffers.f32("b")?);
    let c = gemm::reference_generic(n, &a, &b);
    let mut out = Buffers::default();
    out.push("c", Buffer::F32(to_f32(&c)));
    Ok(out)
}

impl FpgaKernel for GemmFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
            fmt,
            gemm_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// C = A * B as hls4ml's dense layer: B (n x n) stationary on chip,
    /// loaded once; the n rows of A stream through at II = R.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let n = inputs.size.usize("n", 32_768)? as u64;
        let shape = DenseShape {
            n_in: n,
            n_out: n,
            rows: n,
        };
        let (stage, usage, r, mut notes) =
            model::dense(card, fmt, "rows", shape, card.reuse_factor)?;
        let load = model::load_stage(card, fmt, "load B", n * n);
        let bytes = model::storage_bytes(fmt);
        notes.push("B is stationary on chip: A and C stream once, B loads once".into());
        Ok(Design {
            stages: vec![load, stage],
            usage,
            offchip_bytes: 3.0 * (n * n) as f64 * bytes,
            host_bytes: 3.0 * (n * n) as f64 * 4.0,
            reuse_requested: card.reuse_factor,
            reuse_factor: r,
            notes,
        })
    }

    /// Inputs are quantised with error e <= `quant_error` each; products
    /// and the accumulator are exact; the output cast adds e. For an entry,
    /// |err| <= sum_k (|a_k| e + |b_k| e + e^2) + e <= n (2 M e + e^2) + e
    /// with M the largest |input|: that is `abs`, a hard bound. Freivalds'
    /// row checks sum n entry errors with random signs; `rel` = 16 e / n
    /// (x the row scale of about n^2/4) adds 4 n e for them.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("n", 32_768)? as f64;
        let e = fmt.quant_error();
        let m = max_abs(fmt, inputs.buffers.f32("a")?).max(max_abs(fmt, inputs.buffers.f32("b")?));
        let abs = n * (2.0 * m * e + e * e) + e;
        let rel = 16.0 * e * m.max(1.0) / n + f32_rel(fmt);
        Ok((
            Tolerance { rel, abs },
            format!(
                "abs = n(2Me + e^2) + e, rel = 16e/n with n = {n}, e = {e:e} (quantisation error of {fmt}), M = {m}"
            ),
        ))
    }
}

struct TriadFpga;

/// Elements quantised and computed per parallel chunk (bounds the memory
/// the emulation adds at large sizes).
const TRIAD_CHUNK: usize = 1 << 16;

fn triad_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let b = inputs.buffers.f32("b")?;
    let c = inputs.buffers.f32("c")?;
    let s = S::from_f64(stream_triad::SCALAR as f64);
    let mut a = vec![0.0f32; b.len()];
    a.par_chunks_mut(TRIAD_CHUNK)
        .zip(b.par_chunks(TRIAD_CHUNK).zip(c.par_chunks(TRIAD_CHUNK)))
        .for_each(|(a, (b, c))| {
            let qb: Vec<S> = b.iter().map(|&x| S::from_f64(x as f64)).collect();
            let qc: Vec<S> = c.iter().map(|&x| S::from_f64(x as f64)).collect();
            let r = stream_triad::reference_generic(s, &qb, &qc);
            for (a, r) in a.iter_mut().zip(r) {
                *a = r.to_f64() as f32;
            }
        });
    let mut out = Buffers::default();
    out.push("a", Buffer::F32(a));
    Ok(out)
}

impl FpgaKernel for TriadFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
            fmt,
            triad_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// One streaming loop: II = 1, as many lanes as the bandwidth feeds;
    /// three values move per element.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let n = inputs.size.usize("n", 1 << 32)? as u64;
        let (stage, usage, notes) = model::streaming(card, fmt, "triad", n, 3.0, 1, 1)?;
        Ok(Design {
            stages: vec![stage],
            usage: Usage { ..usage },
            offchip_bytes: 3.0 * n as f64 * model::storage_bytes(fmt),
            host_bytes: 3.0 * n as f64 * 4.0,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// |err| <= e (b) + |s| e (c) + |Q(s) - s| |c| + e (output cast): a
    /// hard bound, as `abs`.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let e = fmt.quant_error();
        let s = stream_triad::SCALAR as f64;
        let es = (fmt.to_f64(fmt.from_f64(s)) - s).abs();
        let mc = max_abs(fmt, inputs.buffers.f32("c")?);
        let abs = e * (2.0 + s.abs()) + es * mc;
        Ok((
            Tolerance {
                rel: f32_rel(fmt),
                abs,
            },
            format!(
                "abs = e(2 + |s|) + |Q(s) - s| max|c| with e = {e:e} (quantisation error of {fmt})"
            ),
        ))
    }
}
