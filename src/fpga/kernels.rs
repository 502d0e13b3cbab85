//! Per-kernel FPGA adapters: how each kernel with a fixed-point path runs
//! bit-accurately, what pipelined design stands for it, and the tolerance
//! its fixed-point outputs are verified with. See `src/fpga/mod.rs` for how
//! a kernel plugs in.

use rayon::prelude::*;

use super::card::Card;
use super::fixed::{ApFixed, Format, o, q};
use super::model::{self, DenseShape, Design, Usage, Weights};
use super::scalar::Scalar;
use crate::error::{Error, Result};
use crate::kernels::{Buffer, Buffers, Inputs, Tolerance, gemm, mlp_jet, stream_triad};

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
        "mlp_jet" => Some(&MlpJetFpga),
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

struct MlpJetFpga;

const JET_MAX_EVENTS: usize = 1 << 26;
const JET_FEATURES: usize = mlp_jet::DIMS[0];
const JET_CLASSES: usize = mlp_jet::DIMS[4];

/// Standard deviations of the logit error `mlp_jet`'s tolerance allows.
const JET_SIGMAS: f64 = 8.0;

/// Softmax of each event's logits (class-major) in f64, as f32.
fn softmax_class_major(n: usize, z: &[f64]) -> Vec<f32> {
    let mut p = vec![0.0f32; JET_CLASSES * n];
    for e in 0..n {
        let zmax = (0..JET_CLASSES)
            .map(|c| z[c * n + e])
            .fold(f64::NEG_INFINITY, f64::max);
        let ex: [f64; JET_CLASSES] = std::array::from_fn(|c| (z[c * n + e] - zmax).exp());
        let s: f64 = ex.iter().sum();
        for c in 0..JET_CLASSES {
            p[c * n + e] = (ex[c] / s) as f32;
        }
    }
    p
}

fn jet_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let n = inputs.size.usize("events", JET_MAX_EVENTS)?;
    let x = quantize::<S>(inputs.buffers.f32("x")?);
    let w = quantize::<S>(inputs.buffers.f32("weights")?);
    let z = mlp_jet::reference_generic(n, &x, &w);
    let z: Vec<f64> = z.iter().map(|v| v.to_f64()).collect();
    let mut out = Buffers::default();
    out.push("probs", Buffer::F32(softmax_class_major(n, &z)));
    Ok(out)
}

impl FpgaKernel for MlpJetFpga {
    /// The four layers in the card's format (hls4ml's dense layers: wide
    /// accumulator from the bias, one cast, ReLU); the FPGA outputs the
    /// logits and softmax runs on the host in f64, as hls4ml designs often
    /// leave it off the chip.
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
            fmt,
            jet_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// One dense stage per layer (16-64-32-32-5) with the card's reuse
    /// factor and the weights as constants: multiplies by weights of few
    /// signed digits go to LUTs at R = 1 ([`model::in_fabric`]). The layers
    /// are one pipeline: events stream through at the slowest layer's II,
    /// the other layers add only their depth (their stages have one trip).
    /// At R = 1 one input register precedes the first layer. Only the 16
    /// features and 5 logits move off chip.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let n = inputs.size.usize("events", JET_MAX_EVENTS)? as u64;
        let w = inputs.buffers.f32("weights")?;
        let mut stages = Vec::new();
        let mut usage = Usage::default();
        let mut notes = Vec::new();
        let mut r_max = 1;
        for l in 0..4 {
            let (k, j) = (mlp_jet::DIMS[l], mlp_jet::DIMS[l + 1]);
            let off = mlp_jet::LAYER_OFFSETS[l];
            let fabric = w[off..off + k * j]
                .iter()
                .filter(|&&v| model::in_fabric(fmt.from_f64(v as f64)))
                .count() as u64;
            let shape = DenseShape {
                n_in: k as u64,
                n_out: j as u64,
                rows: n,
            };
            let name = format!("dense {} ({k}x{j})", l + 1);
            let (stage, u, r, mut ns) = model::dense_with(
                card,
                fmt,
                &name,
                shape,
                card.reuse_factor,
                Weights::Constants { fabric },
            )?;
            // Interfaces and control are counted once for the network.
            let shared = if l == 0 { 0.0 } else { 1.0 };
            usage.dsp += u.dsp;
            usage.lut += u.lut - shared * model::INTERFACE_LUT;
            usage.ff += u.ff - shared * model::INTERFACE_FF;
            usage.bram += u.bram;
            usage.uram += u.uram;
            r_max = r_max.max(r);
            stages.push(stage);
            notes.append(&mut ns);
        }
        // The first of the slowest layers carries the stream.
        let slowest = (0..stages.len())
            .rev()
            .max_by_key(|&i| stages[i].ii)
            .unwrap_or(0);
        for (i, s) in stages.iter_mut().enumerate() {
            if i != slowest {
                s.trips = 1;
            }
        }
        if r_max == 1 {
            stages[0].depth += 1;
            notes.push("latency strategy (R = 1): layers chained in one pipeline, one input register, weights as constants".into());
        }
        notes.push(format!(
            "layers pipelined: the events stream at II = {}, softmax on the host (f64)",
            stages[slowest].ii
        ));
        let values = (JET_FEATURES + JET_CLASSES) as f64 * n as f64;
        Ok(Design {
            stages,
            usage,
            offchip_bytes: values * model::storage_bytes(fmt),
            host_bytes: values * 4.0,
            reuse_requested: card.reuse_factor,
            reuse_factor: r_max,
            notes,
        })
    }

    /// A statistical bound, per event, from the format. Every quantisation
    /// (inputs, weights, biases, each layer's cast) makes an error of second
    /// moment m2 = e^2/3 (uniform within e either way when rounding, within
    /// one LSB e below when truncating). Through a layer, the output error
    /// variance is v_j = sum_k (|w_kj| + e)^2 v_k + m2 (sum_k h_k^2 + 2)
    /// with h the f64 activations (ReLU only shrinks errors). A logit is
    /// within d = 8 sqrt(max_c v_c); softmax turns it into |dp_c| <=
    /// p_c (e^{2d} - 1). The verification compares within rel p_c (1 + 2
    /// S_max), so rel is the largest (e^{2d} - 1) / (1 + 2 S_max) over the
    /// events, plus 2^-24 for the f32 outputs. Statistical like gemm's
    /// `rel`, not a hard bound; activations beyond the format's range are
    /// not covered (their outputs fail).
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("events", JET_MAX_EVENTS)?;
        let x = inputs.buffers.f32("x")?;
        let w = inputs.buffers.f32("weights")?;
        let e = fmt.quant_error();
        let m2 = e * e / 3.0;
        let worst = (0..n)
            .into_par_iter()
            .map(|ev| {
                let mut h: Vec<f64> = (0..JET_FEATURES).map(|f| x[f * n + ev] as f64).collect();
                let mut v = vec![m2; JET_FEATURES];
                let mut s_max = 0.0f64;
                for l in 0..4 {
                    let (kd, jd) = (mlp_jet::DIMS[l], mlp_jet::DIMS[l + 1]);
                    let wl = &w[mlp_jet::LAYER_OFFSETS[l]..][..kd * jd];
                    let b = &w[mlp_jet::LAYER_OFFSETS[l] + kd * jd..][..jd];
                    let h2: f64 = h.iter().map(|a| a * a).sum();
                    let mut hn = vec![0.0; jd];
                    let mut vn = vec![0.0; jd];
                    for j in 0..jd {
                        let (mut z, mut s, mut var) = (b[j] as f64, (b[j] as f64).abs(), 0.0);
                        for k in 0..kd {
                            let wk = wl[k * jd + j] as f64;
                            z += wk * h[k];
                            s += (wk * h[k]).abs();
                            var += (wk.abs() + e).powi(2) * v[k];
                        }
                        hn[j] = if l < 3 { z.max(0.0) } else { z };
                        vn[j] = var + m2 * (h2 + 2.0);
                        if l == 3 {
                            s_max = s_max.max(s);
                        }
                    }
                    h = hn;
                    v = vn;
                }
                let d = JET_SIGMAS * v.iter().cloned().fold(0.0, f64::max).sqrt();
                (2.0 * d).exp_m1() / (1.0 + 2.0 * s_max)
            })
            .reduce(|| 0.0, f64::max);
        let rel = worst + 2f64.powi(-24);
        Ok((
            Tolerance { rel, abs: 1e-30 },
            format!(
                "rel = max over events of (e^(2d) - 1) / (1 + 2 S_max) + 2^-24, d = {JET_SIGMAS} sigma of the logit error propagated from quantisation errors of second moment e^2/3 with e = {e:e} (quantisation error of {fmt}); statistical, not a hard bound"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::kernels::{Param, Registry, SizeSpec};

    fn jet_inputs(events: i64) -> Inputs {
        let reg = Registry::builtin().unwrap();
        let size = SizeSpec {
            name: "t".into(),
            params: [("events".to_string(), Param::Int(events))].into(),
            source: "test".into(),
        };
        reg.get("mlp_jet")
            .unwrap()
            .kernel
            .generate(&size, 11)
            .unwrap()
    }

    #[test]
    fn csd_digits_and_the_fabric_rule() {
        assert_eq!(model::csd_digits(0), 0);
        assert_eq!(model::csd_digits(64), 1);
        assert_eq!(model::csd_digits(-7), 2); // 8 - 1
        assert_eq!(model::csd_digits(5), 2); // 4 + 1
        assert_eq!(model::csd_digits(11), 3); // 16 - 4 - 1
        assert_eq!(model::csd_digits(0b1010_1010), 4);
        assert!(model::in_fabric(-96) && !model::in_fabric(11));
    }

    /// Issue 5's calibration check: the hls4ml jet-tagging MLP
    /// (16-64-32-32-5, ap_fixed<16,6>, R = 1, 200 MHz) on a U250. The
    /// published Vivado HLS reports give II = 1, 9 to 13 cycles of latency
    /// and about 2,800 to 3,900 DSPs; the model must land there. Of the 4256
    /// multiplies, those by weights of at most two signed digits are built
    /// in LUTs (`model::FABRIC_MULT_MAX_DIGITS`); latency: one input
    /// register, then per layer 1 multiply stage (2 at 200 MHz less the
    /// input register shared with the previous layer) and an adder tree of
    /// ceil(log2 n_in) levels at 4 per cycle: 1 + (1+1) + 3 (1+2) = 12.
    #[test]
    fn hls4ml_jet_tagger_calibration() {
        let mut c = card::load(None).unwrap()[0].clone();
        assert!(c.id.contains("u250"), "{}", c.id);
        c.format = "ap_fixed<16,6>".into();
        c.clock_mhz.value = 200.0;
        c.reuse_factor = 1;
        let fmt = c.fixed_format().unwrap();
        let inputs = jet_inputs(1);
        let design = MlpJetFpga.design(&c, &fmt, &inputs).unwrap();
        let ev = model::evaluate(&c, &fmt, &design);
        eprintln!(
            "calibration: II {} latency {} cycles DSP {} LUT {} notes {:?}",
            ev.ii, ev.compute_cycles, ev.usage.dsp, ev.usage.lut, ev.notes
        );
        assert_eq!(ev.ii, 1);
        assert_eq!(ev.reuse_factor, 1);
        assert!(
            (9..=13).contains(&ev.compute_cycles),
            "latency {} cycles",
            ev.compute_cycles
        );
        assert!(
            (2800.0..=3900.0).contains(&ev.usage.dsp),
            "{} DSPs",
            ev.usage.dsp
        );
        // Without the fabric rule every multiply would take a DSP: 4256,
        // outside the published range.
        assert_eq!(mlp_jet::MACS_PER_EVENT, 4256);
        // A batch streams at II = 1: one more cycle per event.
        let batch = MlpJetFpga.design(&c, &fmt, &jet_inputs(1000)).unwrap();
        let eb = model::evaluate(&c, &fmt, &batch);
        assert_eq!(eb.compute_cycles, ev.compute_cycles + 999);
    }

    /// On every shipped card the fixed-point outputs pass the format's
    /// tolerance, and the top class agrees with f64 on nearly all events.
    #[test]
    fn jet_fixed_point_passes_its_tolerance_on_every_card() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("mlp_jet").unwrap();
        let inputs = jet_inputs(2000);
        for c in card::load(None).unwrap() {
            let fmt = c.fixed_format().unwrap();
            let out = MlpJetFpga.emulate(&inputs, fmt).unwrap();
            let (tol, _) = MlpJetFpga.tolerance(&inputs, &fmt).unwrap();
            let v = k.kernel.verify(&inputs, &out, tol).unwrap();
            eprintln!("{}: rel {:e}: {v:?}", c.id, tol.rel);
            assert!(v.passed, "{}: {v:?}", c.id);
            assert!(v.max_abs_error > 0.0);
            assert!(
                !k.kernel
                    .verify(&inputs, &out, k.manifest.tolerance)
                    .unwrap()
                    .passed
            );
            assert!(v.detail.contains("top class agrees on"), "{}", v.detail);
        }
        // ap_fixed<16,6> too (truncation, wrap: hls4ml's default).
        let fmt = Format::parse("ap_fixed<16,6>").unwrap();
        let out = MlpJetFpga.emulate(&inputs, fmt).unwrap();
        let (tol, _) = MlpJetFpga.tolerance(&inputs, &fmt).unwrap();
        let v = k.kernel.verify(&inputs, &out, tol).unwrap();
        eprintln!("<16,6>: rel {:e}: {v:?}", tol.rel);
        assert!(v.passed, "{v:?}");
    }
}
