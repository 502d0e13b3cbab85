//! `mlp_jet` on the FPGA emulation: one dense stage per layer (16-64-32-32-5,
//! weights as constants; multiplies by weights of at most two signed digits
//! in LUTs); tolerance 8 sigma of the logit error propagated from the
//! format's quantisation errors (statistical; softmax runs on the host in
//! f64).

use rayon::prelude::*;

use crate::error::Result;
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, DenseShape, Design, Usage, Weights};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, fixed_instance, quantize, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct MlpJetFpga;

const JET_MAX_EVENTS: usize = 1 << 26;
const JET_FEATURES: usize = super::DIMS[0];
const JET_CLASSES: usize = super::DIMS[4];

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
    let z = super::reference_generic(n, &x, &w);
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
        let f = fixed_instance!(
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
            let (k, j) = (super::DIMS[l], super::DIMS[l + 1]);
            let off = super::LAYER_OFFSETS[l];
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
                    let (kd, jd) = (super::DIMS[l], super::DIMS[l + 1]);
                    let wl = &w[super::LAYER_OFFSETS[l]..][..kd * jd];
                    let b = &w[super::LAYER_OFFSETS[l] + kd * jd..][..jd];
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
    use crate::kernels::Registry;
    use crate::kernel::{Param, SizeSpec};

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
        assert_eq!(super::super::MACS_PER_EVENT, 4256);
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
