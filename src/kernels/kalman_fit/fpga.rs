//! `kalman_fit` on the FPGA emulation: a streaming engine over (track,
//! plane) updates with the operation counts and depth of an ASAP schedule
//! of `fit`'s own code ([`Sched`]), in `ap_fixed<64,18>`; tolerance a
//! first-order bound from reverse-mode differentiation of the filter's own
//! code ([`Lin`], the tape).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::bound::{self, Lin, UNIT_ROUNDOFF};
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, fixed_instance, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct KalmanFpga;

/// Integer bits of `kalman_fit`'s format: at the shipped sizes its values
/// reach about 2e3 (the inverse of the 2x2 residual covariance; hits and
/// the state stay within +-600), so 18 bits (range +-131072) leave a
/// factor 64 for smaller hit errors, whose inverse grows as 1/sigma^4; the
/// tolerance refuses a run whose values come within a factor 2 of it.
const KALMAN_INTEGER: i32 = 18;
/// Width of `kalman_fit`'s format: covariances fall to about 1e-6 while the
/// inverse reaches 2e3. On the tiny size, the first-order bound of
/// [`kalman_tolerance`] (in sigma of the parameters) and the measured error
/// against f64 are, for ap_fixed<W,18>: W = 32: bound 1.3e6, error 980;
/// 40: 5e3, 0.40; 48: 19, 7.8e-4; 56: 0.076, 3.2e-4; 64: 6.4e-4, 3.2e-4
/// (the f32 outputs' rounding). 64 is the narrowest width whose bound is
/// within the manifest's accuracy (2% of sigma): at 48 the filter passes in
/// fact but no bound shows it.
const KALMAN_WIDTH: u32 = 64;

fn kalman_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let (n, m) = super::model_of(&inputs.size)?;
    let hx = quantize::<S>(inputs.buffers.f32("hx")?);
    let hy = quantize::<S>(inputs.buffers.f32("hy")?);
    let (params, chi2) = super::reference_generic(&m, n, &hx, &hy);
    let mut out = Buffers::default();
    out.push("params", Buffer::F32(to_f32(&params)));
    out.push("chi2", Buffer::F32(to_f32(&chi2)));
    Ok(out)
}

type TolFn = fn(&Inputs) -> Result<(Tolerance, String)>;

impl<S: Scalar> super::FilterNumber for Lin<S> {
    fn from_f32(x: f32) -> Self {
        Lin::input(x as f64)
    }
    /// HLS's `T(1) / x` truncates toward zero: up to one LSB, not half.
    fn recip(self) -> Self {
        Scalar::recip(self)
    }
    /// Fused in fixed point (one cast), two roundings in the f64 filter.
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        let p = a.v * b.v;
        let v = p + c.v;
        Self::push(
            v,
            &[(a, b.v), (b, a.v), (c, 1.0)],
            Self::q() + (p.abs() + v.abs()) * UNIT_ROUNDOFF,
        )
    }
}

/// `kalman_fit`'s tolerance: over the tracks the verification checks, the
/// worst of each output's first-order error bound ([`Lin`]) plus its f32
/// rounding, over the scale the verification uses (the parameter's sigma
/// from the f64 covariance; 1 + chi2). Refused when a value of the filter
/// comes within a factor 2 of the format's range (it could saturate).
fn kalman_tolerance<S: Scalar>(inputs: &Inputs) -> Result<(Tolerance, String)> {
    let (n, m) = super::model_of(&inputs.size)?;
    let (hx, hy) = (inputs.buffers.f32("hx")?, inputs.buffers.f32("hy")?);
    let f32r = 2f64.powi(-24);
    let tracks = super::checked_tracks(n, inputs.seed);
    let (worst, largest) = tracks
        .par_iter()
        .map(|&t| {
            bound::reset();
            let r = super::fit::<Lin<S>>(&m, |l| {
                (
                    <Lin<S> as super::FilterNumber>::from_f32(hx[l * n + t]),
                    <Lin<S> as super::FilterNumber>::from_f32(hy[l * n + t]),
                )
            });
            let outs: Vec<Lin<S>> = r.params.iter().chain([&r.chi2]).copied().collect();
            let (bounds, largest) = bound::bounds(&outs);
            let mut worst: (f64, usize) = (0.0, t);
            for (p, b) in bounds.iter().enumerate() {
                let (v, scale) = if p < 5 {
                    (r.params[p].v, r.cov[p][p].v.max(0.0).sqrt())
                } else {
                    (r.chi2.v, 1.0 + r.chi2.v)
                };
                let ratio = (b + v.abs() * f32r) / scale;
                if ratio > worst.0 || ratio.is_nan() {
                    worst = (ratio, t);
                }
            }
            (worst, largest)
        })
        .reduce(
            || ((0.0, 0), 0.0),
            |a, b| {
                let w = if b.0.0 > a.0.0 || b.0.0.is_nan() {
                    b.0
                } else {
                    a.0
                };
                (w, a.1.max(b.1))
            },
        );
    let fmt = S::format().map_or_else(|| "f64".to_string(), |f| f.name());
    let max = S::format().map_or(f64::INFINITY, |f| f.max_value());
    if largest >= max / 2.0 || largest.is_nan() || !worst.0.is_finite() {
        return Err(Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!(
                "kalman_fit in {fmt}: values reach {largest:e}, too close to the format's range ({max:e}) to rule out saturation"
            ),
        });
    }
    Ok((
        Tolerance {
            rel: worst.0,
            abs: 1e-30,
        },
        format!(
            "rel = max over the {} checked tracks and outputs of (B + |out| 2^-24) / scale, B the first-order bound sum_i |d out / d err_i| err_i over every cast in {fmt} (err <= {:e}; a reciprocal, truncated toward zero as HLS's T(1)/x is, <= {:e}), every input's quantisation and the f64 reference's rounding, by reverse-mode differentiation of the filter; scale = sigma of the parameter (f64 covariance) or 1 + chi2; second-order terms neglected; largest |value| {largest:.3e} within the range {max:.3e}; worst at track {}",
            tracks.len(),
            Lin::<S>::q(),
            S::format().map_or(0.0, |f| f.recip_error()),
            worst.1
        ),
    ))
}

/// Operations and the ASAP schedule of one run of [`super::fit`]:
/// each value is the cycle it is ready (inputs and constants at 0); the
/// counts are kept per thread while [`kalman_schedule`] runs.
#[derive(Clone, Copy)]
struct Sched(u64);

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct OpCount {
    mults: u64,
    adds: u64,
    divs: u64,
}

impl OpCount {
    fn minus(self, o: OpCount) -> OpCount {
        OpCount {
            mults: self.mults - o.mults,
            adds: self.adds - o.adds,
            divs: self.divs - o.divs,
        }
    }
}

/// Cycles of a multiply, an add and a reciprocal.
#[derive(Debug, Clone, Copy, Default)]
struct Latency {
    mult: u64,
    add: u64,
    div: u64,
}

thread_local! {
    static SCHEDULE: std::cell::Cell<(OpCount, Latency)> =
        std::cell::Cell::new((OpCount::default(), Latency::default()));
}

fn sched_op(f: impl FnOnce(&mut OpCount, &Latency) -> u64) -> Sched {
    SCHEDULE.with(|c| {
        let (mut n, lat) = c.get();
        let t = f(&mut n, &lat);
        c.set((n, lat));
        Sched(t)
    })
}

impl std::ops::Add for Sched {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        sched_op(|n, l| {
            n.adds += 1;
            self.0.max(o.0) + l.add
        })
    }
}

impl std::ops::Sub for Sched {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        sched_op(|n, l| {
            n.adds += 1;
            self.0.max(o.0) + l.add
        })
    }
}

impl std::ops::Mul for Sched {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        sched_op(|n, l| {
            n.mults += 1;
            self.0.max(o.0) + l.mult
        })
    }
}

impl super::FilterNumber for Sched {
    fn from_f32(_: f32) -> Self {
        Sched(0)
    }
    fn recip(self) -> Self {
        sched_op(|n, l| {
            n.divs += 1;
            self.0 + l.div
        })
    }
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        sched_op(|n, l| {
            n.mults += 1;
            n.adds += 1;
            (a.0.max(b.0) + l.mult).max(c.0) + l.add
        })
    }
}

/// The operations of the filter on `layers` planes and the cycle its last
/// output is ready.
fn kalman_schedule(m: &super::Model, layers: usize, lat: Latency) -> (OpCount, u64) {
    SCHEDULE.with(|c| c.set((OpCount::default(), lat)));
    let m = super::Model { layers, ..*m };
    let r = super::fit::<Sched>(&m, |_| (Sched(0), Sched(0)));
    let ready = r
        .params
        .iter()
        .chain(r.cov.iter().flatten())
        .chain([&r.chi2])
        .map(|s| s.0)
        .max()
        .unwrap_or(0);
    (SCHEDULE.with(|c| c.get().0), ready)
}

impl FpgaKernel for KalmanFpga {
    /// The filter's values span 2e3 (a reciprocal) down to 1e-6
    /// (covariances), and its errors grow through the covariance update: in
    /// ap_fixed<32,18> the parameters are off by about 1000 sigma, so
    /// kalman_fit runs in ap_fixed<64,18> (the card's quantisation and
    /// overflow modes; see [`KALMAN_WIDTH`]). A real design would give each
    /// variable its own format, or use floating point; the wide format is
    /// the honest single-format choice, and its cost shows in the DSPs (12
    /// DSP48E2 per 64x64 multiply).
    fn format(&self, card: Format) -> (Format, Option<String>) {
        let f = Format {
            width: KALMAN_WIDTH,
            integer: KALMAN_INTEGER,
            ..card
        };
        (
            f,
            Some(format!(
                "kalman_fit runs in {f}, not the card's {card}: its values span about 2e3 (the inverse residual covariance) down to 1e-6 (covariances); in 32 bits the parameters are off by about 1000 sigma, and 64 is the narrowest width whose error bound is within 2% of sigma"
            )),
        )
    }

    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(fmt, kalman_emulate, EmuFn, [(64, 18)])
            .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// A streaming engine over (track, plane) updates: one plane's predict
    /// and update per lane per cycle, the tracks interleaved so that a
    /// track's next plane enters when its previous one leaves the pipeline
    /// (its state waits in a per-lane buffer of depth x 31 values). The
    /// operations and the depth come from an ASAP schedule of `fit`'s own
    /// code ([`Sched`]): counted on 2 and 3 planes, their difference is one
    /// plane; the depth of one plane is the difference of 4 and 3 planes.
    /// Multiplies cost W x W DSP blocks ([`model::wide_mult_latency`]), the
    /// reciprocal a pipelined divider ([`model::divider_latency`]). Lanes:
    /// as many as fit (rarely the bandwidth: hits in, 6 values out per
    /// track). With fewer tracks per lane than the depth, the loop-carried
    /// state stalls the pipeline: II = ceil(depth / tracks per lane).
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let (n, m) = super::model_of(&inputs.size)?;
        let planes = (m.layers - 2) as u64;
        let blocks = card.dsp_rule.blocks(fmt.width, fmt.width);
        let lat = Latency {
            mult: model::wide_mult_latency(card.clock_mhz.value, blocks),
            add: 1,
            div: model::divider_latency(fmt.width),
        };
        let (seed, _) = kalman_schedule(&m, 2, lat);
        let (three, d3) = kalman_schedule(&m, 3, lat);
        let (_, d4) = kalman_schedule(&m, 4, lat);
        let plane = three.minus(seed);
        let depth = d4.saturating_sub(d3).max(1);
        let avail = Usage::available(card);
        let state_bits = depth as f64 * 31.0 * fmt.width as f64;
        let ops = model::LaneOps {
            mults: plane.mults + seed.mults,
            fabric_mults: 0,
            adds: plane.adds + seed.adds,
            divs: plane.divs.max(seed.divs),
            depth,
            // One bank per state value (5 parameters, 25 covariances, chi2).
            extra: model::buffer_blocks(card, state_bits, 31, avail.bram),
        };
        let values_per_track = (2 * m.layers + 6) as f64;
        let (mut stage, usage, mut notes) = model::streaming_with(
            card,
            fmt,
            "plane updates",
            n as u64 * planes,
            values_per_track / planes as f64,
            &ops,
        )?;
        let per_lane = (n as u64).div_ceil(stage.parallelism);
        if per_lane < depth {
            stage.ii = depth.div_ceil(per_lane);
            notes.push(format!(
                "only {per_lane} tracks per lane for a {depth}-cycle plane: the loop-carried state stalls the pipeline, II = {}",
                stage.ii
            ));
        }
        notes.push(format!(
            "one plane (from fit's own code): {} multiplies, {} adds, {} reciprocal, {depth} cycles deep; seed {} multiplies, {} adds",
            plane.mults, plane.adds, plane.divs, seed.mults, seed.adds
        ));
        Ok(Design {
            stages: vec![stage],
            usage,
            offchip_bytes: n as f64 * values_per_track * model::storage_bytes(fmt),
            host_bytes: n as f64 * values_per_track * 4.0,
            reuse_requested: card.reuse_factor,
            reuse_factor: 1,
            notes,
        })
    }

    /// A first-order bound from the filter's sensitivities to every
    /// rounding ([`Lin`]): see [`kalman_tolerance`]. `rel` is relative to
    /// each parameter's sigma (and 1 + chi2), as the verification compares.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let f = fixed_instance!(fmt, kalman_tolerance, TolFn, [(64, 18)])
            .ok_or_else(|| unsupported_format(fmt))?;
        f(inputs)
    }

    fn rel_error_of(&self) -> &'static str {
        "each parameter's sigma (from the f64 covariance), chi2's 1 + chi2"
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::kernels::testing::{inputs, passes_on_every_card};

    /// kalman_fit runs in ap_fixed<64,18>: within its running error bound,
    /// and far closer to f64 than the manifest's f32 tolerance asks.
    #[test]
    fn kalman_fit_fixed_point_passes_on_every_card() {
        let inputs = inputs("kalman_fit", &[("tracks", 500)]);
        let card_fmt = Format::parse("ap_fixed<18,8,AP_RND_CONV,AP_SAT>").unwrap();
        let (fmt, why) = KalmanFpga.format(card_fmt);
        assert_eq!(fmt.name(), "ap_fixed<64,18,AP_RND_CONV,AP_SAT>");
        assert!(why.unwrap().contains("1000 sigma"));
        let (tol, _) = KalmanFpga.tolerance(&inputs, &fmt).unwrap();
        assert!(tol.rel > 0.0 && tol.rel < 1e-3, "{tol:?}");
        // The outputs' f32 rounding dominates: the fixed-point error itself
        // is orders of magnitude below it.
        passes_on_every_card("kalman_fit", &KalmanFpga, &inputs, 1.0);
        // Not compiled: a narrow format is refused with the list.
        assert!(KalmanFpga.emulate(&inputs, card_fmt).is_err());
    }

    /// One plane of the filter, counted from `fit`'s own code, is the
    /// kernel's FLOP count: 135 multiplies (44 + 48 fused multiply-adds
    /// and 43 products) and 126 additions, and one reciprocal; the seed
    /// is 2 differences times 1/dz.
    #[test]
    fn kalman_fit_operations_come_from_its_code() {
        let inputs = inputs("kalman_fit", &[("tracks", 100_000)]);
        let (_, m) = super::super::model_of(&inputs.size).unwrap();
        let lat = Latency {
            mult: 7,
            add: 1,
            div: 68,
        };
        let (seed, _) = kalman_schedule(&m, 2, lat);
        let (three, d3) = kalman_schedule(&m, 3, lat);
        let (_, d4) = kalman_schedule(&m, 4, lat);
        let plane = three.minus(seed);
        assert_eq!(
            (plane.mults, plane.adds, plane.divs),
            (135, 126, 1),
            "{plane:?}"
        );
        assert_eq!(
            (plane.mults + plane.adds) as f64,
            super::super::FLOPS_PER_PLANE
        );
        assert_eq!((seed.mults, seed.adds, seed.divs), (2, 2, 0));
        // The reciprocal is on the critical path of every plane.
        assert!(d4 - d3 > 68, "{}", d4 - d3);
        // U250, 64x64 multiplies of 12 DSP48E2: 137 multiplies per lane,
        // floor(9216 / 1644) = 5 lanes; 100,000 tracks x 8 planes.
        let c = &card::load(None).unwrap()[0];
        let fmt = KalmanFpga.format(c.fixed_format().unwrap()).0;
        let d = KalmanFpga.design(c, &fmt, &inputs).unwrap();
        assert_eq!(d.stages[0].parallelism, 5);
        assert_eq!(d.usage.dsp, 5.0 * 137.0 * 12.0);
        assert_eq!(d.stages[0].trips, 800_000 / 5);
        assert_eq!(d.stages[0].ii, 1);
    }
}
