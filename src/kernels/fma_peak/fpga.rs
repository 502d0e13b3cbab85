//! `fma_peak` on the FPGA emulation: the DSP ceiling of each card's
//! roofline. Every usable DSP multiplier is one multiply-add unit
//! (`x = a x + b`, the add in the DSP's post-adder), each interleaving as
//! many chains as its loop-carried latency, so that it issues one
//! multiply-add per cycle; tolerance 16 (a^K e0 + e_step (1 - a^K) / (1 - a))
//! per item (hard).

use crate::error::Result;
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, LaneOps, Stage, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, max_abs, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

use super::{A, B, CHAINS};

pub(super) struct FmaFpga;

/// Integer bits (sign included) the chains and their sum need: starts in
/// [-4, -2) + j/8 and a sum of 16 down to -64 (ap_fixed<W,8>: +-128).
const FMA_INTEGER: i32 = 8;

fn fma_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let (_, iters) = super::params(&inputs.size)?;
    let x0 = quantize::<S>(inputs.buffers.f32("x0")?);
    let y = super::reference_generic(&x0, iters, S::from_f64(A as f64), S::from_f64(B as f64));
    let mut out = Buffers::default();
    out.push("y", Buffer::F32(to_f32(&y)));
    Ok(out)
}

/// Cycles of one step of a chain: the DSP's multiply-add
/// ([`model::mult_latency`]) and one more for the cast (rounding and
/// saturation in fabric), uncalibrated.
fn step_latency(card: &Card) -> u64 {
    model::mult_latency(card.clock_mhz.value) + 1
}

/// The adder trees that sum each item's 16 chains and write y, and the
/// stage of the last round's sums. A round of `per_round` chains ends
/// with per_round / 16 items within a few cycles; the trees (II = 1 per
/// item) sum them while the next round runs (dataflow, double-buffered), so
/// only the last round's sums add time, provided a round's items drain
/// within a round (`iters` x L cycles): ceil(per_round / (16 iters L))
/// trees, at least one. Depth: 4 adder levels at the card's levels per
/// cycle, + 2 registers.
fn sum_stage(card: &Card, per_round: u64, iters: u64, last_chains: u64) -> (Stage, u64) {
    let chains = CHAINS as u64;
    let l = step_latency(card);
    let trees = per_round.div_ceil(chains * iters * l).max(1);
    let levels = (CHAINS as f64).log2().ceil() as u64;
    let depth = levels.div_ceil(model::adder_levels_per_cycle(card.clock_mhz.value)) + 2;
    let items = last_chains.div_ceil(chains);
    let name = format!("sum and write y (last round; {trees} adder trees)");
    (Stage::new(&name, items.div_ceil(trees), 1, depth, trees), trees)
}

impl FpgaKernel for FmaFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(
            fmt,
            fma_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// The card's format where it has [`FMA_INTEGER`] integer bits or more;
    /// else as many fraction bits with 8 integer bits (the sum of 16 chains
    /// reaches -49, outside `ap_fixed<16,6>`'s +-32).
    fn format(&self, card: Format) -> (Format, Option<String>) {
        if card.integer >= FMA_INTEGER {
            return (card, None);
        }
        let f = Format {
            width: (card.frac() + FMA_INTEGER) as u32,
            integer: FMA_INTEGER,
            ..card
        };
        let why = format!(
            "fma_peak runs in {f}: the sum of its 16 chains reaches -49, outside the range of the card's {card}"
        );
        (f, Some(why))
    }

    /// Each multiply-add unit is one DSP multiplier (the card's DSP rule
    /// for W x W) with `b` added in the DSP's post-adder (P = A x B + C on
    /// DSP48E2 and Agilex blocks) and the cast, a W-bit rounding and
    /// saturation adder, in LUTs (a model assumption: the DSP's own
    /// rounding cannot do AP_RND_CONV with saturation). A step takes
    /// L = multiply latency + 1 cycles and the next step of the same chain
    /// needs its result, so each unit interleaves L chains (their state L x
    /// W bits in registers) and issues one step per cycle: II = 1. Units:
    /// as many as the DSPs (or LUTs, FFs) allow ([`model::lanes_that_fit`]).
    /// Chains go to units in rounds of L per unit; a round is `iters` steps
    /// of L chains, iters x L - 1 + L cycles. Before it, x0 streams in
    /// ([`model::load_stage`]); adder trees of 15 adders sum each item's
    /// chains and write y, overlapping the next round ([`sum_stage`]). The peak
    /// this stands for is units x clock multiply-adds per second; that the
    /// card closes timing at its clock with every DSP busy is the card's
    /// (uncalibrated) clock figure.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let (n, iters) = super::params(&inputs.size)?;
        let (n, iters) = (n as u64, iters as u64);
        let w = fmt.width as f64;
        let l = step_latency(card);
        let unit = LaneOps {
            mults: 1,
            adds: 1,
            depth: l,
            extra: Usage {
                ff: l as f64 * w,
                ..Usage::default()
            },
            ..LaneOps::default()
        };
        let per_unit = unit.usage(card, fmt, 0.0);
        let units = model::lanes_that_fit(card, &per_unit);
        if units == 0 {
            return Err(crate::error::Error::Unsupported {
                backend: "fpga-emu".into(),
                message: format!("fma_peak: one multiply-add unit does not fit {}", card.name),
            });
        }
        let chains = n * CHAINS as u64;
        let rounds = chains.div_ceil(units * l);
        let mut steps = Stage::new("chains", iters * l, 1, l, units);
        steps.repeat = rounds;
        let (sum, trees) = sum_stage(card, units * l, iters, chains - (rounds - 1) * units * l);
        let load = model::load_stage(card, fmt, "load x0", n);
        let tree_adders = trees as f64 * (CHAINS - 1) as f64;
        let u = Usage {
            dsp: units as f64 * per_unit.dsp,
            lut: model::INTERFACE_LUT + units as f64 * per_unit.lut + tree_adders * (2.0 * w + 1.0),
            ff: model::INTERFACE_FF + units as f64 * per_unit.ff + tree_adders * 2.0 * w,
            ..Usage::default()
        };
        let notes = vec![
            format!(
                "chains: {units} multiply-add units ({} DSP each, {:?}), each interleaving {l} chains at II = 1 (step latency {l} cycles, uncalibrated); {chains} chains in {rounds} rounds of {iters} steps",
                per_unit.dsp, card.dsp_rule
            ),
            format!(
                "the DSP ceiling this stands for: {units} x {} MHz = {:.3e} multiply-adds per second",
                card.clock_mhz.value,
                units as f64 * card.clock_mhz.value * 1e6
            ),
        ];
        let bytes = model::storage_bytes(fmt);
        Ok(Design {
            stages: vec![load, steps, sum],
            usage: u,
            offchip_bytes: 2.0 * n as f64 * bytes,
            host_bytes: 8.0 * n as f64,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// A chain's error d_k after k steps: the start is quantised (d_0 <=
    /// e0 = e, j/8 is exact for F >= 3); each step adds at most e_step =
    /// e (the cast) + |Q(a) - a| X + |Q(b) - b| (X bounds |x|: the chains
    /// move from their start towards 1, so X = max(max|x0| + 15/8, 1)), and
    /// multiplies the old error by a: d_K <= a^K e0 + e_step (1 - a^K) /
    /// (1 - a). The pairwise sums of equal formats are exact, so an item's
    /// error is at most 16 d_K: that is `abs`, a hard bound. (At 10
    /// fraction bits and large K it is near 16 e / (1 - a) = 8: the
    /// recurrence stalls where (x - 1)(1 - a) is under half an LSB. A
    /// missing iteration moves an item by about 16 (1 - a) |x - 1|, so in
    /// fixed point the check catches wrong factors and starts, not one
    /// iteration fewer.)
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let (_, iters) = super::params(&inputs.size)?;
        let e = fmt.quant_error();
        let (a, b) = (A as f64, B as f64);
        let err = |v: f64| (fmt.to_f64(fmt.from_f64(v)) - v).abs();
        let x = (max_abs(fmt, inputs.buffers.f32("x0")?) + 1.875).max(1.0);
        let e_step = e + err(a) * x + err(b);
        let ak = a.powi(iters as i32);
        let chain = ak * e + e_step * (1.0 - ak) / (1.0 - a);
        let abs = CHAINS as f64 * chain;
        Ok((
            Tolerance {
                rel: f32_rel(fmt),
                abs,
            },
            format!(
                "abs = 16 (a^K e + e_step (1 - a^K) / (1 - a)) with K = {iters}, e = {e:e} (quantisation error of {fmt}), e_step = e + |Q(a) - a| X + |Q(b) - b| = {e_step:e}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::fpga::fixed::{o, q};
    use crate::kernels::testing::{inputs, passes_on_every_card};

    /// One item, x0 = 1 (the fixed point), 4 steps in ap_fixed<18,8,
    /// AP_RND_CONV,AP_SAT> (LSB 2^-10), by hand. In raw units (x = r/1024)
    /// a step is r - (r - 1024)/1024 rounded to the nearest integer, ties to
    /// even; chain j starts at r0 = 1024 + 128 j, so it moves by about j/8
    /// LSB per step and rounds back for j < 4:
    /// j = 0..3: 1024, 1152, 1280, 1408 (stalled);
    /// j = 4: 1536 - 0.5 = 1535.5, a tie, to even 1536 (stalled);
    /// j = 5: 1664 -> 1663.375 -> 1663 -> 1662.376 -> 1662 -> 1661 -> 1660;
    /// j = 6: 1792 -> 1791.25 -> 1791 -> ... -> 1788;
    /// j = 7: 1920 -> 1919.125 -> ... -> 1916;
    /// j = 8: 2048 -> 2047 -> 2046.001 -> 2046 -> 2045 -> 2044;
    /// j = 9: 2176 -> 2174.875 -> 2175 -> 2174 -> 2173 -> 2172;
    /// j = 10, 11: 2304 -> 2300, 2432 -> 2428 (one LSB a step);
    /// j = 12: 2560 -> 2558.5, a tie, to even 2558 -> 2556.502 -> 2557 ->
    /// 2555.503 -> 2556 -> 2554.504 -> 2555;
    /// j = 13: 2688 -> 2686.375 -> 2686 -> 2684 -> 2682 -> 2680 (two a step);
    /// j = 14: 2816 -> 2808; j = 15: 2944 -> 2936 (two a step).
    /// Sum: 4864 + 1536 + 1660 + 1788 + 1916 + 2044 + 2172 + 2300 + 2428 +
    /// 2555 + 2680 + 2808 + 2936 = 31687: y = 31687/1024 = 30.9443359375,
    /// against 16 + 15 a^4 = 30.94152 in f64 (2.9 LSB off; the bound:
    /// 16 e (1 - a^4)/(1 - a) = 16 x 2^-11 x 3.994 = 0.0312).
    #[test]
    fn four_steps_in_fixed_point_by_hand() {
        type T = crate::fpga::ApFixed<18, 8, { q::RND_CONV }, { o::SAT }>;
        let y = super::super::reference_generic(
            &[T::from_f64(1.0)],
            4,
            T::from_f64(A as f64),
            T::from_f64(B as f64),
        );
        assert_eq!(y[0].raw(), 31687);
        assert_eq!(y[0].to_f64(), 30.9443359375);
        let mut x0 = inputs("fma_peak", &[("n", 1), ("iters", 4)]);
        if let Some(Buffer::F32(v)) = x0.buffers.get_mut("x0") {
            v[0] = 1.0;
        }
        let fmt = T::FORMAT;
        let (tol, _) = FmaFpga.tolerance(&x0, &fmt).unwrap();
        let a4 = (A as f64).powi(4);
        let bound = 16.0 * (a4 / 2048.0 + (1.0 - a4) / (1.0 - A as f64) / 2048.0);
        assert!((tol.abs - bound).abs() < 1e-15, "{} vs {bound}", tol.abs);
        let exact = 16.0 + 15.0 * (A as f64).powi(4);
        assert!((30.9443359375 - exact).abs() < tol.abs);
    }

    #[test]
    fn tiny_passes_on_every_card() {
        let x0 = inputs("fma_peak", &[]);
        passes_on_every_card("fma_peak", &FmaFpga, &x0, 2.0);
    }

    /// fma_peak n = 2^20, iters = 4096 on the U250, by hand: 18x18 is one
    /// DSP48E2, 9216 usable; a unit also takes 37 LUTs and 4 x 18 + 2 x 36
    /// = 144 FFs, far inside the LUT and FF budget, so 9216 units. L = 3 + 1
    /// = 4 at 300 MHz; 16 x 2^20 chains over 9216 units = 1821 each, 456
    /// rounds of 4096 x 4 - 1 + 4 = 16387 cycles: 7,472,472 cycles. Sums:
    /// a round ends 9216 x 4 / 16 = 2304 items, drained by one tree within
    /// the next round's 16384 cycles; the last round holds 2^24 - 455 x
    /// 36864 = 4096 chains, 256 items: 255 + 4 cycles (4 levels at 3 per
    /// cycle, + 2). Load: 2^20 / 54 = 19419 trips, + 63 + 64. The ceiling: 9216 x 300 MHz = 2.76e12
    /// multiply-adds per second; this size reaches 2^36 / latency.
    #[test]
    fn u250_ceiling_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let fmt = c.fixed_format().unwrap();
        let x0 = inputs("fma_peak", &[("n", 1 << 20), ("iters", 4096)]);
        let d = FmaFpga.design(c, &fmt, &x0).unwrap();
        assert_eq!(d.stages[1].parallelism, 9216);
        assert_eq!((d.stages[1].repeat, d.stages[1].cycles()), (456, 456 * 16387));
        assert_eq!((d.stages[2].cycles(), d.stages[2].parallelism), (259, 1));
        assert_eq!(d.stages[0].cycles(), 19418 + 64);
        let ev = model::evaluate(c, &fmt, &d);
        assert_eq!(ev.usage.dsp, 9216.0);
        assert_eq!(ev.compute_cycles, 456 * 16387 + 259 + 19482);
        assert_eq!(ev.bound, "compute");
        // <16,6> cards run in <18,8>: the sum does not fit +-32.
        let narrow = Format::parse("ap_fixed<16,6,AP_RND,AP_SAT>").unwrap();
        let (f, why) = FmaFpga.format(narrow);
        assert_eq!((f.width, f.integer), (18, 8));
        assert!(why.unwrap().contains("-49"));
    }
}
