//! `pic_push` on the FPGA emulation: a streaming push engine, one pass
//! through off-chip memory per step, the Boris step of [`super::boris_step`]
//! with the factor 2 / (1 + t.t) as `ap_fixed.h` divides, in
//! `ap_fixed<32,8>`; tolerance a first-order bound from reverse-mode
//! differentiation of the same step along each checked trajectory
//! ([`crate::fpga::bound`]).

use rayon::prelude::*;

use super::{BorisConstants, DT, Layout, boris_step, checked_particles, params};
use crate::error::{Error, Result};
use crate::fpga::bound::{self, Lin};
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, LaneOps};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, fixed_instance, max_abs_raw, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct PicPushFpga;

/// `ap_fixed<32,8>`: the card's 8 integer bits (range +-128) and 24
/// fraction bits, the f32 inputs' precision at their scale (|r|, |v| < 1).
const PIC_WIDTH: u32 = 32;
const PIC_INTEGER: i32 = 8;

/// The largest |component| of a state the format is used for: with every
/// position and velocity component below 8, every value of a push stays
/// below 64, half the range of `ap_fixed<32,8>`: x z, y z, z^2 < 64; |he|
/// <= 0.01 x 8; |t| components <= 0.0025 x 64 and 0.05 (1 + 0.05 x 64) =
/// 0.21; 1 <= d < 1.14, so f <= 2 and |s| < 0.42; |v'| components <
/// 8.08 + 2 x 8.08 x 0.21 < 11.5; |v| < 8.08 + 2 x 11.5 x 0.42 + 0.08 <
/// 18; |r| < 8 + 1.8. The manifest's inputs (in [-1, 1)) stay below 3.
const STATE_LIMIT: f64 = 8.0;

type TolFn = fn(&Inputs) -> Result<(Tolerance, String)>;

fn out_of_range(what: String) -> Error {
    Error::Unsupported {
        backend: "fpga-emu".into(),
        message: format!(
            "pic_push: {what} reaches the limit |component| < {STATE_LIMIT} within which ap_fixed<32,8> holds every value of a push"
        ),
    }
}

/// Refuses inputs with a component at or over [`STATE_LIMIT`].
fn check_inputs(inputs: &Inputs) -> Result<()> {
    let top = max_abs_raw(inputs.buffers.f32("p0")?);
    if top >= STATE_LIMIT {
        return Err(out_of_range(format!("an input component of {top}")));
    }
    Ok(())
}

fn pic_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let (n, steps) = params(&inputs.size)?;
    let p0 = inputs.buffers.f32("p0")?;
    let layout = Layout::of(n);
    let c = BorisConstants::<S>::new();
    let pushed: Vec<[f32; 6]> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut s: [S; 6] = std::array::from_fn(|k| S::from_f64(p0[layout.at(k, i)] as f64));
            for step in 0..=steps {
                if let Some(v) = s.iter().map(|v| v.to_f64()).find(|v| v.abs() >= STATE_LIMIT) {
                    return Err(out_of_range(format!("particle {i} after {step} steps ({v})")));
                }
                if step < steps {
                    s = boris_step(s, &c);
                }
            }
            Ok(s.map(|v| v.to_f64() as f32))
        })
        .collect::<Result<_>>()?;
    let mut p = vec![0.0f32; 6 * n];
    for (i, s) in pushed.iter().enumerate() {
        for (k, v) in s.iter().enumerate() {
            p[layout.at(k, i)] = *v;
        }
    }
    let mut out = Buffers::default();
    out.push("p", Buffer::F32(p));
    Ok(out)
}

/// The f64 reference's own rounding against [`boris_step`] in f64 (the
/// same step, associated otherwise), relative to the verification's
/// scale: the two agree within it (`the_generic_step_in_f64_is_the_reference`).
const REFERENCE_REL: f64 = 1e-13;

/// `pic_push`'s tolerance: over the particles the verification checks,
/// the largest first-order bound on |fixed - f64| of any output component,
/// from the push's own code run on [`Lin`] along the particle's f64
/// trajectory (every cast, division and input quantisation in `S`, every
/// rounding of the f64 computation), as `abs`; `rel` (against the
/// particle's largest |r| or |v|, at least the output's magnitude) covers
/// the outputs' f32 rounding and the reference's own rounding. Refused when
/// a value of a push comes within a factor 2 of the format's range.
fn pic_tolerance<S: Scalar>(inputs: &Inputs) -> Result<(Tolerance, String)> {
    let (n, steps) = params(&inputs.size)?;
    let p0 = inputs.buffers.f32("p0")?;
    let layout = Layout::of(n);
    let particles = checked_particles(n, inputs.seed);
    let ((worst, at), largest) = particles
        .par_iter()
        .map(|&i| {
            bound::reset();
            let c = BorisConstants::<Lin<S>>::new();
            let mut s: [Lin<S>; 6] = std::array::from_fn(|k| Lin::input(p0[layout.at(k, i)] as f64));
            for _ in 0..steps {
                s = boris_step(s, &c);
            }
            let (b, largest) = bound::bounds(&s);
            let worst = b.iter().fold(0.0f64, |a, &x| if x.is_nan() { f64::NAN } else { a.max(x) });
            ((worst, i), largest)
        })
        .reduce(
            || ((0.0, 0), 0.0),
            |a, b| {
                let w = if b.0.0 > a.0.0 || b.0.0.is_nan() { b.0 } else { a.0 };
                (w, a.1.max(b.1))
            },
        );
    let fmt = S::format().map_or_else(|| "f64".to_string(), |f| f.name());
    let max = S::format().map_or(f64::INFINITY, |f| f.max_value());
    if largest >= max / 2.0 || !largest.is_finite() || !worst.is_finite() {
        return Err(Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!(
                "pic_push in {fmt}: values of a push reach {largest:e}, too close to the format's range ({max:e}) to rule out saturation"
            ),
        });
    }
    let f32r = 2f64.powi(-24);
    Ok((
        Tolerance {
            rel: f32r + REFERENCE_REL,
            abs: worst,
        },
        format!(
            "abs = max over the {} checked particles and 6 outputs of B = sum_i |d out / d err_i| err_i after {steps} steps, by reverse-mode differentiation of the push's own code along the f64 trajectory: every cast in {fmt} (err <= {:e}), the division 2 / (1 + t.t) (truncated toward zero as ap_fixed.h divides, <= {:e}), the constants' and inputs' quantisation, the f64 computation's rounding; second-order terms neglected; worst at particle {at}; rel = 2^-24 (the f32 outputs) + {REFERENCE_REL:e} (the reference's own rounding), against the particle's largest |r| or |v|; largest |value| {largest:.3} within the range {max:.3e}",
            particles.len(),
            Lin::<S>::q(),
            Lin::<S>::div_error()
        ),
    ))
}

/// Per lane, per push ([`super::boris_step`]): 21 products of variables
/// and 9 by constants (a constant of at most two signed digits in LUTs,
/// [`model::in_fabric`]; none of this format's are), 25 additions and one
/// divider. Depth: the critical path of an ASAP schedule, z^2, t_z, t_z^2,
/// s, v' x s and dt v (six multiplies), t_z's addition, d's and v's two
/// adder levels and r's addition (six), and the divider.
fn lane_ops(card: &Card, fmt: &Format) -> LaneOps {
    let wm = model::wide_mult_latency(card.clock_mhz.value, card.dsp_rule.blocks(fmt.width, fmt.width));
    let constants = BorisConstants::<f64>::new().multipliers();
    let fabric: u64 = constants
        .iter()
        .filter(|(v, _)| model::in_fabric(fmt.from_f64(*v)))
        .map(|(_, uses)| uses)
        .sum();
    let by_constant: u64 = constants.iter().map(|(_, uses)| uses).sum();
    LaneOps {
        mults: 21 + by_constant - fabric,
        fabric_mults: fabric,
        adds: 25,
        divs: 1,
        depth: 6 * wm + 6 + model::divider_latency(fmt.width),
        ..LaneOps::default()
    }
}

impl FpgaKernel for PicPushFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        check_inputs(inputs)?;
        let f = fixed_instance!(fmt, pic_emulate, EmuFn, [(32, 8)]).ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// `ap_fixed<32,8>` with the card's modes: in the card's format the
    /// rotation vector t = h B (about 0.05) is quantised too coarsely for
    /// the physics (see the reason), and 24 fraction bits keep the f32
    /// inputs' precision at their scale.
    fn format(&self, card: Format) -> (Format, Option<String>) {
        let f = Format {
            width: PIC_WIDTH,
            integer: PIC_INTEGER,
            ..card
        };
        let t = 0.5 * DT as f64;
        let scheme = (DT as f64).powi(2) / 12.0;
        let why = format!(
            "pic_push runs in {f}: in {card} t = h B (about {t:.2}) is off by up to {:.1e} of itself, a rotation-angle error per step {:.0} times the Boris scheme's own ((w dt)^2/12 = {scheme:.1e}); 24 fraction bits keep the f32 inputs' precision at |r|, |v| ~ 1",
            card.quant_error() / t,
            card.quant_error() / t / scheme
        );
        (f, Some(why))
    }

    /// A streaming push engine (II = 1 per lane), one pass over the
    /// particles per step through off-chip memory (6 values in, 6 out per
    /// push), as the kernel's push streams the state between a PIC code's
    /// field gather and current deposit: lanes as many as the bandwidth
    /// feeds, fewer where the resources run out ([`model::streaming_with`]);
    /// the pass repeats `steps` times.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        check_inputs(inputs)?;
        let (n, steps) = params(&inputs.size)?;
        let ops = lane_ops(card, fmt);
        let (mut stage, usage, mut notes) = model::streaming_with(card, fmt, "pushes", n as u64, 12.0, &ops)?;
        stage.repeat = steps as u64;
        notes.push(format!(
            "one pass per step ({steps}), the state through off-chip memory each time; per push 21 + 9 multiplies (9 by constants), 25 adds, one divider for 2 / (1 + t.t); depth {} cycles",
            ops.depth
        ));
        let bytes = model::storage_bytes(fmt);
        Ok(Design {
            stages: vec![stage],
            usage,
            offchip_bytes: (steps * 12 * n) as f64 * bytes,
            host_bytes: 48.0 * n as f64,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// See [`pic_tolerance`]: `abs` a first-order bound from the push's
    /// own code along each checked trajectory, `rel` the f32 outputs'.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let f = fixed_instance!(fmt, pic_tolerance, TolFn, [(32, 8)]).ok_or_else(|| unsupported_format(fmt))?;
        f(inputs)
    }

    fn rel_error_of(&self) -> &'static str {
        "the particle's largest |r| (positions) or |v| (velocities) along its f64 trajectory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::fpga::fixed::{o, q};
    use crate::kernel::Kernel;
    use crate::kernels::testing::{inputs, passes_on_every_card};

    type T = crate::fpga::ApFixed<32, 8, { q::RND_CONV }, { o::SAT }>;

    /// One push of (x, y, z) = (0, 0, 0.5), v = (1, 0, 0) in
    /// ap_fixed<32,8,AP_RND_CONV,AP_SAT> (F = 24), by hand in raw units of
    /// 2^-24. Constants (rounded): -2hk = -0.0100000003 -> -167772, h b0 =
    /// 0.0500000007 -> 838861, h b0 bb = 0.0025000001 -> 41943, dt =
    /// 0.1000000015 -> 1677722. he = (0, 0, -167772 x 8388608 / 2^24 =
    /// -83886); v- = (16777216, 0, -83886); zz = 4194304 (0.25); x z = y z
    /// = 0, so t = (0, 0, 838861 + 41943 x 4194304 / 2^24 = 849346.75 ->
    /// 849347); d = 2^24 + 849347^2 / 2^24 = 16820214.214 -> 16820214; f =
    /// trunc(2^25 x 2^24 / 16820214) = trunc(33468655.83) = 33468655 (the
    /// division truncates); s_z = 33468655 x 849347 / 2^24 = 1694351.537 ->
    /// 1694352. v' = v- + v- x t = (16777216, -849347, -83886); v = v- +
    /// v' x s + he: v_x = 16777216 - 849347 x 1694352 / 2^24 = 16691439.386
    /// -> 16691439, v_y = -1694352, v_z = 2 he_z = -167772; r = r + dt v:
    /// 1677722 x 16691439 / 2^24 = 1669144.298 -> 1669144, 1677722 x
    /// -1694352 / 2^24 = -169435.240 -> -169435, 8388608 - 16777.204 ->
    /// 8371831.
    #[test]
    fn one_push_in_fixed_point_by_hand() {
        let p = [0.0, 0.0, 0.5, 1.0, 0.0, 0.0].map(T::from_f64);
        let out = boris_step(p, &BorisConstants::<T>::new());
        assert_eq!(
            out.map(|v| v.raw()),
            [1_669_144, -169_435, 8_371_831, 16_691_439, -1_694_352, -167_772]
        );
        // Against the f64 push from the same (exact) state.
        let (f64_out, _) = super::super::reference([0.0, 0.0, 0.5, 1.0, 0.0, 0.0], 1);
        for (got, want) in out.iter().zip(f64_out) {
            assert!((got.to_f64() - want).abs() < 1e-6, "{got:?} against {want}");
        }
    }

    #[test]
    fn tiny_passes_on_every_card() {
        passes_on_every_card("pic_push", &PicPushFpga, &inputs("pic_push", &[]), 1e-3);
    }

    /// The bound is not loose by orders of magnitude: the measured error is
    /// a fair share of it, and it grows with the steps (8 against 64).
    #[test]
    fn the_bound_follows_the_error_over_the_steps() {
        let c = &card::load(None).unwrap()[0];
        let (fmt, why) = PicPushFpga.format(c.fixed_format().unwrap());
        assert_eq!(fmt.name(), "ap_fixed<32,8,AP_RND_CONV,AP_SAT>");
        assert!(why.unwrap().contains("times the Boris scheme's own"));
        let mut last = 0.0;
        for steps in [8, 64] {
            let inputs = inputs("pic_push", &[("n", 200), ("steps", steps)]);
            let (tol, _) = PicPushFpga.tolerance(&inputs, &fmt).unwrap();
            let out = PicPushFpga.emulate(&inputs, fmt).unwrap();
            let v = super::super::PicPush.verify(&inputs, &out, tol).unwrap();
            eprintln!("{steps} steps: {tol:?}, {v:?}");
            assert!(v.passed, "{v:?}");
            assert!(v.max_abs_error > tol.abs / 50.0, "{v:?} against {tol:?}");
            assert!(tol.abs > last);
            last = tol.abs;
        }
    }

    /// tiny (1003 particles, 8 steps) on the U250, by hand: 32 x 32
    /// multiplies of 2 x 2 = 4 DSP48E2 (5 cycles: 3 + log2 4); 65.45 GB/s
    /// at 300 MHz with 48 bytes per push feeds ceil(4.55) = 5 lanes of 30
    /// multiplies (120 DSP each). Depth 6 x 5 + 6 + 36 = 72 cycles, plus 64
    /// of memory latency; 8 passes of ceil(1003 / 5) = 201 trips.
    #[test]
    fn pushes_on_the_u250_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let (fmt, _) = PicPushFpga.format(c.fixed_format().unwrap());
        let inputs = inputs("pic_push", &[]);
        let d = PicPushFpga.design(c, &fmt, &inputs).unwrap();
        let s = &d.stages[0];
        assert_eq!((s.parallelism, s.depth, s.repeat, s.trips), (5, 136, 8, 201));
        assert_eq!(s.cycles(), 8 * (200 + 136));
        assert_eq!(d.usage.dsp, 5.0 * 120.0);
        assert_eq!(d.offchip_bytes, 8.0 * 12.0 * 1003.0 * 4.0);
        // A state beyond the format's limit is refused, by the design and
        // by the emulation.
        let mut far = inputs.clone();
        if let Some(Buffer::F32(p)) = far.buffers.get_mut("p0") {
            p[2 * 1003 + 7] = 9.0;
        }
        let e = PicPushFpga.design(c, &fmt, &far).unwrap_err().to_string();
        assert!(e.contains("limit |component| < 8"), "{e}");
        assert!(PicPushFpga.emulate(&far, fmt).is_err());
    }
}
