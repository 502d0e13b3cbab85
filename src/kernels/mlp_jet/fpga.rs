//! `mlp_jet` on the FPGA emulation: the network as hls4ml builds it
//! ([`super::hls4ml`]: its dense, ReLU and softmax templates bit for bit,
//! in the types hls4ml 1.3.0 declares for the card's format, the
//! accumulator included), the probabilities out of its lookup-table
//! softmax; modeled as one dense stage per layer (16-64-32-32-5, weights as
//! constants; multiplies by weights of at most two signed digits in LUTs).
//! Tolerance: the logit error propagated from every cast (mean bound plus 8
//! sigma), then the softmax's table resolutions by interval arithmetic.

use rayon::prelude::*;

use super::hls4ml::{NetConfig, Network};
use crate::error::Result;
use crate::fpga::card::Card;
use crate::fpga::fixed::{Format, q};
use crate::fpga::model::{self, DenseShape, Design, Usage, Weights};
use crate::kernel::fpga::{FpgaKernel, f32_rel};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct MlpJetFpga;

const JET_MAX_EVENTS: usize = 1 << 26;
const JET_FEATURES: usize = super::DIMS[0];
const JET_CLASSES: usize = super::DIMS[4];

/// Standard deviations of the random part of the logit error the
/// tolerance allows.
const JET_SIGMAS: f64 = 8.0;

/// The hls4ml types the jet tagger runs in on a card of format `fmt`:
/// hls4ml's plain default (`accum_t` the model's own type).
pub(super) fn net_config(fmt: &Format) -> NetConfig {
    NetConfig::hls4ml_default(*fmt)
}

fn jet_emulate(inputs: &Inputs, cfg: NetConfig) -> Result<Buffers> {
    let n = inputs.size.usize("events", JET_MAX_EVENTS)?;
    let x = inputs.buffers.f32("x")?;
    let net = Network::new(cfg, inputs.buffers.f32("weights")?)?;
    let per_event: Vec<[i64; JET_CLASSES]> = (0..n)
        .into_par_iter()
        .map(|e| {
            let xe: [i64; JET_FEATURES] = std::array::from_fn(|f| net.input_raw(x[f * n + e]));
            net.softmax(&net.logits(&xe))
        })
        .collect();
    let mut p = vec![0.0f32; JET_CLASSES * n];
    for (e, pe) in per_event.iter().enumerate() {
        for (c, &raw) in pe.iter().enumerate() {
            p[c * n + e] = cfg.model.to_f64(raw) as f32;
        }
    }
    let mut out = Buffers::default();
    out.push("probs", Buffer::F32(p));
    Ok(out)
}

impl FpgaKernel for MlpJetFpga {
    /// The network as hls4ml 1.3.0 builds it for the card's format
    /// ([`net_config`]): dense layers accumulating in `accum_t`, ReLU, and
    /// the stable lookup-table softmax on the chip; the probabilities come
    /// back in the format's `result_t`. Any format whose tables are well
    /// defined runs (raw integer arithmetic, no compiled-in list).
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        jet_emulate(inputs, net_config(&fmt))
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
            "layers pipelined: the events stream at II = {}",
            stages[slowest].ii
        ));
        notes.push(format!("{}; softmax on the chip (five exp lookups, an adder tree, one invert lookup, five multiplies): its cycles and resources are not in the model (uncalibrated)", net_config(fmt).describe()));
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

    /// A bound per event, from the types ([`net_config`]), in two parts.
    ///
    /// The logits: the inputs' and weights' quantisation errors are known
    /// exactly; every other cast that drops bits (each product and the bias
    /// into `accum_t`, the sum into `result_t`) errs uniformly over one LSB
    /// of its target: mean -lsb/2 when truncating (0 when rounding),
    /// variance lsb^2/12. Through a layer (h the f64 activations, w and
    /// w_q the weights before and after quantisation, e its error bound)
    /// the mean is
    /// `m_j = sum_k (w_q m_k + (w_q - w) h_k) + (b_q - b) + n_in mp + mb + mr`
    /// and the variance
    /// `v_j = sum_k (|w_kj| + e)^2 v_k + n_in vp + vb + vr`;
    /// an inactive ReLU passes none of the mean (its second moment goes to
    /// the variance). A logit is within `D = max_c (|m_c| + 8 sqrt(v_c))`.
    ///
    /// The softmax, by interval arithmetic from the f64 logits and D: each
    /// difference to the maximum is within 2D and its table index
    /// truncates it by less than r_e (the index's LSB), each table entry
    /// errs by its type's quantisation error, the sum (at least 1: the
    /// maximum's entry is exp(0)) is truncated by less than r_v for the
    /// invert table's index, whose entries err by their quantisation
    /// error, and the product's cast by `result_t`'s. Each probability
    /// lies in [lo_c, hi_c]; the verification allows abs + rel p_c (1 + 2
    /// S_max), so abs is the additive part (the output cast plus the exp
    /// entries' error times the largest inverse) and rel the largest
    /// (max(p_c - lo_c, hi_c - p_c) - abs) / (p_c (1 + 2 S_max)) over the
    /// events. Statistical through the 8 sigma, hard after it; activations
    /// beyond the types' ranges are not covered (their outputs fail).
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("events", JET_MAX_EVENTS)?;
        let x = inputs.buffers.f32("x")?;
        let w = inputs.buffers.f32("weights")?;
        let cfg = net_config(fmt);
        let bounds = SoftmaxBounds::new(&cfg);
        let w_q = quantised_weights(&cfg, w);
        let rel = (0..n)
            .into_par_iter()
            .map(|ev| {
                let xe: [f64; JET_FEATURES] = std::array::from_fn(|f| x[f * n + ev] as f64);
                let (z, d, s_max) = logit_error(&cfg, w, &w_q, &xe);
                let (p, need) = bounds.need(&z, d);
                let amp = 1.0 + 2.0 * s_max;
                (0..JET_CLASSES)
                    .map(|c| (need[c] + p[c] * f32_rel(fmt) - bounds.abs) / (p[c] * amp))
                    .fold(0.0, f64::max)
            })
            .reduce(|| 0.0, f64::max);
        Ok((
            Tolerance {
                rel,
                abs: bounds.abs,
            },
            format!(
                "abs = {:e} (the output cast plus the exp table's error times the largest inverse), rel = max over events of (max(p - lo, hi - p) - abs) / (p (1 + 2 S_max)), [lo, hi] by interval arithmetic through hls4ml's softmax tables from the f64 logits within D = |mean| + {JET_SIGMAS} sigma of the error propagated from every cast ({})",
                bounds.abs,
                cfg.describe()
            ),
        ))
    }
}

/// Mean and variance of the error of one cast into `to` of a value with
/// `from_frac` fraction bits: none when no bit is dropped, else uniform
/// over one LSB: mean -lsb/2 when truncating toward minus infinity, 0 when
/// rounding, variance lsb^2/12 (toward zero: mean 0, second moment
/// lsb^2/3, its sign following the value's).
fn cast_error(to: &Format, from_frac: i32) -> (f64, f64) {
    if to.frac() >= from_frac {
        return (0.0, 0.0);
    }
    let lsb = to.lsb();
    match to.quant {
        q::TRN => (-lsb / 2.0, lsb * lsb / 12.0),
        q::TRN_ZERO => (0.0, lsb * lsb / 3.0),
        _ => (0.0, lsb * lsb / 12.0),
    }
}

/// One event's f64 logits, the bound D on the emulated logits' distance
/// from them (|mean| + JET_SIGMAS sigma, the largest over the classes) and
/// S_max, the largest sum of magnitudes of a logit's terms.
/// `w_q` holds the weights as the network holds them ([`quantised_weights`]).
fn logit_error(
    cfg: &NetConfig,
    w: &[f32],
    w_q: &[f64],
    x: &[f64; JET_FEATURES],
) -> ([f64; JET_CLASSES], f64, f64) {
    let (m, a) = (&cfg.model, &cfg.accum);
    // The inputs' and weights' own quantisation errors are known exactly.
    let quantised = |v: f64| m.to_f64(m.from_f64(v));
    let e = m.quant_error();
    let (mp, vp) = cast_error(a, 2 * m.frac());
    let (mb, vb) = cast_error(a, m.frac());
    let (mr, vr) = cast_error(m, a.frac());
    let mut h: Vec<f64> = x.to_vec();
    let mut mean: Vec<f64> = x.iter().map(|&v| quantised(v) - v).collect();
    let mut var = vec![0.0; JET_FEATURES];
    let mut s_max = 0.0f64;
    for l in 0..4 {
        let (kd, jd) = (super::DIMS[l], super::DIMS[l + 1]);
        let wl = &w[super::LAYER_OFFSETS[l]..][..kd * jd];
        let b = &w[super::LAYER_OFFSETS[l] + kd * jd..][..jd];
        let wlq = &w_q[super::LAYER_OFFSETS[l]..][..kd * jd];
        let bq = &w_q[super::LAYER_OFFSETS[l] + kd * jd..][..jd];
        let (mut hn, mut mn, mut vn) = (vec![0.0; jd], vec![0.0; jd], vec![0.0; jd]);
        for j in 0..jd {
            let (mut z, mut s) = (b[j] as f64, (b[j] as f64).abs());
            let (mut mj, mut vj) = (bq[j] - b[j] as f64, 0.0);
            for k in 0..kd {
                let (wf, wqk) = (wl[k * jd + j] as f64, wlq[k * jd + j]);
                z += wf * h[k];
                s += (wf * h[k]).abs();
                // (w + dw)(h + dh) - w h = (w + dw) dh + dw h.
                mj += wqk * mean[k] + (wqk - wf) * h[k];
                vj += (wf.abs() + e).powi(2) * var[k];
            }
            mj += kd as f64 * mp + mb + mr;
            vj += kd as f64 * vp + vb + vr;
            if l < 3 && z <= 0.0 {
                // Inactive: relu(z + err) lies in [0, max(err, 0)].
                (mj, vj) = (0.0, vj + mj * mj);
            }
            hn[j] = if l < 3 { z.max(0.0) } else { z };
            (mn[j], vn[j]) = (mj, vj);
            if l == 3 {
                s_max = s_max.max(s);
            }
        }
        (h, mean, var) = (hn, mn, vn);
    }
    let d = (0..JET_CLASSES)
        .map(|c| mean[c].abs() + JET_SIGMAS * var[c].sqrt())
        .fold(0.0, f64::max);
    (std::array::from_fn(|c| h[c]), d, s_max)
}

/// The packed weights as `cfg`'s network holds them, as values.
fn quantised_weights(cfg: &NetConfig, w: &[f32]) -> Vec<f64> {
    let m = &cfg.model;
    w.iter()
        .map(|&v| m.to_f64(super::hls4ml::weight_raw(m, v)))
        .collect()
}

/// The resolutions of hls4ml's softmax for one configuration.
struct SoftmaxBounds {
    /// The exp table index's LSB (of d = x_max - x).
    r_e: f64,
    /// Error of an exp entry as the softmax's accum_t holds it.
    q_x: f64,
    /// The invert table index's LSB (of the sum) and the sum's cast error.
    r_v: f64,
    q_v: f64,
    /// Error of an invert table entry.
    q_i: f64,
    /// Error of the output cast.
    e_m: f64,
    /// The additive part of the tolerance.
    abs: f64,
}

impl SoftmaxBounds {
    fn new(cfg: &NetConfig) -> SoftmaxBounds {
        let s = &cfg.softmax;
        let index_lsb = |size: usize, width: u32, frac: i32| {
            let bits = usize::BITS - (size - 1).leading_zeros();
            (width as f64 - bits as f64 - frac as f64).exp2()
        };
        let r_e = index_lsb(s.exp_table_size, s.inp_norm.width, s.inp_norm.frac());
        let r_v = index_lsb(s.inv_table_size, s.inv_inp.width, s.inv_inp.frac());
        let into_accum = if s.accum.frac() < s.exp_table.frac() {
            s.accum.quant_error()
        } else {
            0.0
        };
        // std::exp(float) and 1.0f / x add at most an f32 rounding.
        let q_x = s.exp_table.quant_error() + into_accum + 2f64.powi(-24);
        let q_v = if s.inv_inp.frac() < s.accum.frac() {
            s.inv_inp.quant_error()
        } else {
            0.0
        };
        let q_i = s.inv_table.quant_error() + 2f64.powi(-24);
        let e_m = cfg.model.quant_error();
        SoftmaxBounds {
            r_e,
            q_x,
            r_v,
            q_v,
            q_i,
            e_m,
            abs: e_m + q_x * (1.0 + q_i),
        }
    }

    /// The f64 probabilities of logits `z` and, for each, the largest
    /// distance of the emulated one when the emulated logits are within
    /// `d` of `z`.
    fn need(&self, z: &[f64; JET_CLASSES], d: f64) -> ([f64; JET_CLASSES], [f64; JET_CLASSES]) {
        let zmax = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let ex: [f64; JET_CLASSES] = std::array::from_fn(|c| (z[c] - zmax).exp());
        let total: f64 = ex.iter().sum();
        let lo: [f64; JET_CLASSES] =
            std::array::from_fn(|c| ((z[c] - zmax - 2.0 * d).exp() - self.q_x).max(0.0));
        let hi: [f64; JET_CLASSES] = std::array::from_fn(|c| {
            (z[c] - zmax + 2.0 * d + self.r_e).min(0.0).exp() + self.q_x
        });
        let s_lo = lo.iter().sum::<f64>().max(1.0);
        let s_hi: f64 = hi.iter().sum();
        let u_lo = (s_lo - self.q_v - self.r_v).max(1.0);
        let u_hi = s_hi + self.q_v;
        let (r_lo, r_hi) = (1.0 / u_hi - self.q_i, 1.0 / u_lo + self.q_i);
        let p: [f64; JET_CLASSES] = std::array::from_fn(|c| ex[c] / total);
        let need = std::array::from_fn(|c| {
            let out_lo = lo[c] * r_lo.max(0.0) - self.e_m;
            let out_hi = hi[c] * r_hi + self.e_m;
            (p[c] - out_lo).max(out_hi - p[c])
        });
        (p, need)
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

    /// The FPGA path returns hls4ml's lookup-table probabilities: the
    /// network's own output, in LSBs of the format, not summing to 1 as an
    /// f64 softmax would; and a probability moved by the tolerance's bound
    /// fails.
    #[test]
    fn jet_outputs_are_hls4ml_softmax_and_the_bound_is_tight_enough() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("mlp_jet").unwrap();
        let n = 500;
        let inputs = jet_inputs(n as i64);
        let fmt = Format::parse("ap_fixed<18,8,AP_RND_CONV,AP_SAT>").unwrap();
        let mut out = MlpJetFpga.emulate(&inputs, fmt).unwrap();
        let p = out.f32("probs").unwrap().to_vec();
        let net = Network::new(net_config(&fmt), inputs.buffers.f32("weights").unwrap()).unwrap();
        let x = inputs.buffers.f32("x").unwrap();
        let mut sums_off = 0;
        for e in 0..n {
            let xe = std::array::from_fn(|f| net.input_raw(x[f * n + e]));
            let want = net.softmax(&net.logits(&xe));
            let mut sum = 0.0;
            for c in 0..JET_CLASSES {
                assert_eq!(p[c * n + e] as f64, fmt.to_f64(want[c]), "event {e} class {c}");
                sum += p[c * n + e] as f64;
            }
            if (sum - 1.0).abs() > 1e-3 {
                sums_off += 1;
            }
        }
        assert!(sums_off > n / 2, "{sums_off} of {n} sums off 1");
        let (tol, words) = MlpJetFpga.tolerance(&inputs, &fmt).unwrap();
        assert!(words.contains("interval arithmetic"), "{words}");
        let v = k.kernel.verify(&inputs, &out, tol).unwrap();
        assert!(v.passed, "{v:?}");
        // The worst output uses a real share of the bound.
        assert!(v.worst_ratio > 0.05, "{v:?}");
        // Class 2 of event 7 set just outside its bound fails, just inside
        // passes.
        let w = inputs.buffers.f32("weights").unwrap();
        let xe: [f64; JET_FEATURES] = std::array::from_fn(|f| x[f * n + 7] as f64);
        let (pr, mag) = super::super::forward_f64(w, &xe);
        let amp = 1.0 + 2.0 * mag.iter().cloned().fold(0.0, f64::max);
        let bound = tol.abs + tol.rel * pr[2] * amp;
        for (factor, passes) in [(1.01, false), (0.99, true)] {
            if let Some(Buffer::F32(p)) = out.get_mut("probs") {
                p[2 * n + 7] = (pr[2] + factor * bound) as f32;
            }
            assert_eq!(k.kernel.verify(&inputs, &out, tol).unwrap().passed, passes);
        }
    }
}
