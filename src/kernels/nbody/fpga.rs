//! `nbody` on the FPGA emulation: a pair engine, one body i per lane and
//! every body j broadcast from on-chip memory, with `hls::sqrt` and the
//! header's division in `ap_fixed<56,24>`; tolerance a first-order bound
//! relative to the sum of |terms| plus the absolute errors of the casts and
//! inputs.

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, LaneOps, Stage, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, max_abs, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct NBodyFpga;

/// `ap_fixed<56,24>`: 32 fraction bits (the most `hls::sqrt` serves) and
/// 24 integer bits for 1/r^3 up to 1/eps^3 (below 2^23 for eps >= 0.005).
const NBODY_WIDTH: u32 = 56;
const NBODY_INTEGER: i32 = 24;

/// The softening and eps^2 as every backend computes them (f32).
fn softening(inputs: &Inputs) -> Result<(f64, f64)> {
    let eps = inputs.size.f64("softening", 1e-6..=1.0)? as f32;
    Ok((eps as f64, (eps * eps) as f64))
}

/// Refuses a softening whose 1/eps^3 the format cannot hold.
fn check_range(inputs: &Inputs, fmt: &Format) -> Result<()> {
    let (eps, _) = softening(inputs)?;
    if eps.powi(-3) >= fmt.max_value() / 2.0 {
        return Err(Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!("nbody: 1/eps^3 = {:.3e} exceeds the range of {fmt} (softening >= 0.005 fits)", eps.powi(-3)),
        });
    }
    Ok(())
}

fn nbody_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let b = &inputs.buffers;
    let (_, eps2) = softening(inputs)?;
    let (x, y, z) = (quantize::<S>(b.f32("x")?), quantize::<S>(b.f32("y")?), quantize::<S>(b.f32("z")?));
    let m = quantize::<S>(b.f32("m")?);
    let a = super::reference_generic([&x, &y, &z], &m, S::from_f64(eps2));
    let mut out = Buffers::default();
    for (name, v) in ["ax", "ay", "az"].iter().zip(&a) {
        out.push(name, Buffer::F32(to_f32(v)));
    }
    Ok(out)
}

/// Per lane, per pair: 3 subtractions, 3 multiplies and 3 adds for r2,
/// `hls::sqrt` (a digit recurrence of (I + 1)/2 + F + 1 compare-and-subtract
/// stages, costed as one more divider), the reciprocal (a divider), 3
/// multiplies for inv^3 m, 3 for d s and 3 accumulating adds; the
/// accumulators (3 x (2W + 24) bits) in registers. Depth: an ASAP schedule
/// of that chain.
fn lane_ops(card: &Card, fmt: &Format) -> LaneOps {
    let w = fmt.width;
    let wm = model::wide_mult_latency(card.clock_mhz.value, card.dsp_rule.blocks(w, w));
    let sqrt = ((fmt.integer + 1) / 2 + fmt.frac() + 1) as u64 + 2;
    LaneOps {
        mults: 9,
        adds: 9,
        divs: 2,
        depth: 1 + wm + 2 + sqrt + model::divider_latency(w) + 3 * wm + wm + 1,
        extra: Usage {
            ff: 3.0 * (2.0 * w as f64 + 24.0),
            ..Usage::default()
        },
        ..LaneOps::default()
    }
}

impl FpgaKernel for NBodyFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        check_range(inputs, &fmt)?;
        fmt.sqrt_supported().map_err(|m| Error::Unsupported {
            backend: "fpga-emu".into(),
            message: m,
        })?;
        let f = fixed_instance!(fmt, nbody_emulate, EmuFn, [(56, 24)]).ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// `ap_fixed<56,24>` with the card's modes: 1/r^3 reaches 1/eps^3 = 1e6
    /// at the shipped softening, and close pairs need 32 fraction bits for
    /// r2 (1e-4) to keep its digits; 32 is the most `hls::sqrt` serves.
    fn format(&self, card: Format) -> (Format, Option<String>) {
        let f = Format {
            width: NBODY_WIDTH,
            integer: NBODY_INTEGER,
            ..card
        };
        let why = format!(
            "nbody runs in {f}: 1/r^3 reaches 1/eps^3 (1e6 at eps = 0.01), far outside {card}, and r^2 down to eps^2 needs 32 fraction bits, the most hls::sqrt serves"
        );
        (f, Some(why))
    }

    /// A pair engine: each lane holds one body i and its three
    /// accumulators; every cycle one body j is read from on-chip memory and
    /// broadcast to all lanes (the fan-out is a model assumption), so a lane
    /// takes one pair per cycle (II = 1) and the accumulation, an exact
    /// wide add, closes in one cycle (model assumption). Lanes: as many as
    /// the DSPs (9 W x W multiplies each, the card's rule) and LUTs (two
    /// W-bit dividers) allow, at most n; the n bodies i pass through in
    /// ceil(n / lanes) rounds of n pairs. All bodies (4 values each) are
    /// loaded on chip first; the accelerations are written at the end.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        check_range(inputs, fmt)?;
        let n = inputs.size.usize("n", super::MAX_N)? as u64;
        let ops = lane_ops(card, fmt);
        let per_lane = ops.usage(card, fmt, 0.0);
        let avail = Usage::available(card);
        let bodies = model::buffer_blocks(card, 4.0 * n as f64 * fmt.width as f64, 1, avail.bram);
        let mut fit = avail;
        fit.bram -= bodies.bram;
        fit.uram -= bodies.uram;
        let lanes = model::lanes_that_fit(card, &per_lane)
            .min(lanes_in(&fit, &per_lane))
            .min(n);
        if lanes == 0 {
            return Err(Error::Unsupported {
                backend: "fpga-emu".into(),
                message: format!("nbody: one pair lane does not fit {}", card.name),
            });
        }
        let mut pairs = Stage::new("pairs", n, 1, ops.depth, lanes);
        pairs.repeat = n.div_ceil(lanes);
        let k = lanes as f64;
        let usage = Usage {
            dsp: k * per_lane.dsp,
            lut: model::INTERFACE_LUT + k * per_lane.lut,
            ff: model::INTERFACE_FF + k * per_lane.ff,
            bram: bodies.bram,
            uram: bodies.uram,
        };
        let notes = vec![
            format!(
                "{lanes} pair lanes at II = 1 (one body i each, bodies j broadcast from on-chip memory); per lane 9 multiplies of {w}x{w} bits ({} DSP each), hls::sqrt and one divider; depth {} cycles",
                card.dsp_rule.blocks(fmt.width, fmt.width),
                ops.depth,
                w = fmt.width
            ),
            "the accumulation closes in one cycle and the broadcast reaches every lane (model assumptions)".into(),
        ];
        let bytes = model::storage_bytes(fmt);
        Ok(Design {
            stages: vec![
                model::load_stage(card, fmt, "load bodies", 4 * n),
                pairs,
                model::load_stage(card, fmt, "write accelerations", 3 * n),
            ],
            usage,
            offchip_bytes: 7.0 * n as f64 * bytes,
            host_bytes: 28.0 * n as f64,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// First order in the errors (their products, below 1e-12 of the
    /// bound, are dropped), with e the format's quantisation error and u
    /// its LSB, per pair at softened distance r between eps and r_max =
    /// sqrt(12 + eps2) (positions in [-1, 1)^3).
    ///
    /// Relative part (`rel`, against the sum of |terms| the verification
    /// uses): d is exact but for the inputs' quantisation (|dd_c| <= 2e),
    /// so r2 is off by 4 sqrt(3) e r from d, e from eps2 and e from its
    /// cast: rho2 = (4 sqrt(3) e r + 2e) / r^2 relatively. The square root
    /// halves that and rounds to nearest, adding u/(2r); the reciprocal
    /// truncates, adding u r; the casts of inv^2 and inv^3 add e r^2 and
    /// e r^3; the quantised mass adds e / m_min. So s = m inv^3 is off by
    /// 3 (rho2/2 + u/(2r) + u r) + e r^2 + e r^3 + e / m_min, each term
    /// at its worst r (the falling ones at eps, the rising ones at r_max).
    ///
    /// Absolute part (`abs`): the cast of s (|d_c| e <= 2e per pair), the
    /// inputs' error times s (2e s_max per pair, s_max = m_max / eps^3),
    /// over n pairs, and the final cast e.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("n", super::MAX_N)? as f64;
        let (eps, eps2) = softening(inputs)?;
        let (e, u) = (fmt.quant_error(), fmt.lsb());
        let b = &inputs.buffers;
        let m = b.f32("m")?;
        let m_min = m.iter().fold(f64::INFINITY, |a, &v| a.min(fmt.to_f64(fmt.from_f64(v as f64))));
        let m_max = max_abs(fmt, m);
        let (lo, hi) = (eps, (12.0 + eps2).sqrt());
        let rho2 = (4.0 * 3f64.sqrt() * e * lo + 2.0 * e) / (lo * lo);
        let rel = 3.0 * (rho2 / 2.0 + u / (2.0 * lo) + u * hi) + e * hi * hi + e * hi.powi(3) + e / m_min;
        let abs = e + n * (2.0 * e + 2.0 * e * m_max / eps.powi(3));
        Ok((
            Tolerance {
                rel: rel + f32_rel(fmt),
                abs,
            },
            format!(
                "first order: rel = 3(rho2/2 + u/(2 eps) + u r_max) + e r_max^2 + e r_max^3 + e/m_min, rho2 = (4 sqrt(3) e eps + 2e)/eps^2; abs = e + n(2e + 2e m_max/eps^3); e = {e:e}, u = {u:e} ({fmt}), eps = {eps}, r_max = {hi:.3}, n = {n}"
            ),
        ))
    }
}

/// Lanes of `per_lane` that fit in `room` besides the interfaces.
fn lanes_in(room: &Usage, per_lane: &Usage) -> u64 {
    let k = |a: f64, each: f64| if each <= 0.0 { u64::MAX } else { (a / each).floor().max(0.0) as u64 };
    k(room.bram, per_lane.bram).min(k(room.uram, per_lane.uram))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::fpga::fixed::{o, q};
    use crate::kernels::testing::{inputs, passes_on_every_card};

    type T = crate::fpga::ApFixed<56, 24, { q::RND_CONV }, { o::SAT }>;

    /// Two bodies of mass 1/2 at x = 0 and x = 0.375, eps = 0.5, in
    /// ap_fixed<56,24,AP_RND_CONV,AP_SAT> (F = 32), by hand in raw units
    /// of 2^-32: r2 = 0.140625 + 0.25 = 0.390625, sqrt 0.625 exactly (raw
    /// 2684354560); inv = trunc(2^64 / 2684354560) = trunc(6871947673.6) =
    /// 6871947673; inv^2 = 6871947673^2 / 2^32 = 10995116275.84 ->
    /// 10995116276; inv^3 = 10995116276 x 6871947673 / 2^32 = 17592186040.06
    /// -> 17592186040; s = inv^3 / 2 = 8796093020; a_x = 0.375 s =
    /// 3298534882.5, a tie, to even: 3298534882 (0.76799999969), against
    /// 0.5 x 0.375 / 0.625^3 = 0.768; body 1 the opposite.
    #[test]
    fn two_bodies_in_fixed_point_by_hand() {
        let f = |v: f64| T::from_f64(v);
        let (x, zero, m) = ([f(0.0), f(0.375)], [f(0.0); 2], [f(0.5); 2]);
        let [ax, ay, _] = super::super::reference_generic([&x, &zero, &zero], &m, f(0.25));
        assert_eq!(ax[0].raw(), 3_298_534_882);
        assert_eq!(ax[1].raw(), -3_298_534_882);
        assert_eq!(ay[0].raw(), 0);
        assert!((ax[0].to_f64() - 0.768).abs() < 1e-9);
    }

    #[test]
    fn tiny_passes_on_every_card() {
        passes_on_every_card("nbody", &NBodyFpga, &inputs("nbody", &[]), 1e-2);
    }

    /// n = 4096 on the U250, by hand: a 56 x 56 multiply is 3 x 4 = 12
    /// DSP48E2 (7 cycles: 3 + log2 12 rounded up), 108 per lane, so 9216 /
    /// 108 gives 85 lanes (the dividers' 2 x 56^2 LUTs allow far more).
    /// Depth: 1 + 7 + 2 + (12 + 33 + 2) + 60 + 21 + 7 + 1, that is 146
    /// cycles; ceil(4096 / 85), that is 49 rounds of 4095 + 146 cycles.
    #[test]
    fn pairs_on_the_u250_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let (fmt, _) = NBodyFpga.format(c.fixed_format().unwrap());
        let d = NBodyFpga.design(c, &fmt, &inputs("nbody", &[("n", 4096)])).unwrap();
        assert_eq!(d.stages[1].parallelism, 85);
        assert_eq!(d.stages[1].depth, 146);
        assert_eq!(d.stages[1].cycles(), 49 * (4095 + 146));
        assert_eq!(d.usage.dsp, 85.0 * 108.0);
        // A softening too small for the format's range is refused.
        let tight = {
            let mut x = inputs("nbody", &[]);
            x.size.params.insert("softening".into(), crate::kernel::Param::Float(0.001));
            x
        };
        assert!(NBodyFpga.design(c, &fmt, &tight).is_err());
    }
}
