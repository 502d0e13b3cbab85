//! `hough` on the FPGA emulation: an array of q/pT columns, as the CMS L1
//! track trigger's r-phi Hough transform lays out its accumulator, each
//! column a multiply-add and a histogram in block RAM, replicated while
//! the bandwidth feeds more hits per cycle; exact (tolerance 0): the hits
//! are integers and the format holds every value exactly.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::{Format, o};
use crate::fpga::model::{self, Design, Stage, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, fixed_instance, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

use super::Shape;

pub(super) struct HoughFpga;

/// Phases are fractions of a turn in `ap_fixed<32,0>` (32 fraction bits,
/// [-1/2, 1/2) turn): the u32 phase reinterpreted, exactly.
const PHASE_WIDTH: u32 = 32;

fn hough_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let s = Shape::from_size(&inputs.size)?;
    let b = &inputs.buffers;
    let r: Vec<S> = b.u32("r")?.par_iter().map(|&r| S::from_f64(super::radius_turns(r))).collect();
    let phi: Vec<S> = b.u32("phi")?.par_iter().map(|&p| S::from_f64(super::phase_turns(p))).collect();
    let slopes: Vec<S> = b.u32("slopes")?.iter().map(|&m| S::from_f64(super::slope_turns(m))).collect();
    let [acc, peaks] = super::reference_generic(&r, &phi, &slopes, s.nphi(), s.threshold);
    let mut out = Buffers::default();
    out.push("acc", Buffer::U32(acc));
    out.push("peaks", Buffer::U32(peaks));
    Ok(out)
}

/// Bits of a counter that holds `votes` (at least 1).
fn counter_bits(votes: usize) -> u32 {
    (usize::BITS - votes.leading_zeros()).max(1)
}

/// One copy of one column's fill: the slope x r multiply (32 x 13-bit r,
/// the card's DSP rule), the phase add (32 LUTs), the counter's increment
/// and the forwarding compare of the last two addresses (a model
/// assumption, the usual II = 1 histogram: a vote for the bin still being
/// written adds to the register, not to the stale read), its histogram in
/// block RAM (one bank: a read and a write port).
fn fill_unit(card: &Card, s: &Shape, c: u32, bram_left: f64) -> Usage {
    let r_bits = u32::BITS - super::max_radius(s.layers).leading_zeros();
    let acc = model::buffer_blocks(card, (s.nphi() as u32 * c) as f64, 1, bram_left);
    Usage {
        dsp: card.dsp_rule.blocks(PHASE_WIDTH, r_bits),
        lut: PHASE_WIDTH as f64 + c as f64 + 2.0 * 2.0 * s.phibits as f64,
        ff: 3.0 * PHASE_WIDTH as f64 + 3.0 * c as f64 + 2.0 * s.phibits as f64,
        ..acc
    }
}

/// One column's peak finder: 8 neighbour and one threshold comparators of
/// c bits, a three-deep shift register for the phi neighbours, and the
/// adder tree that merges its `copies` histograms.
fn peak_unit(c: u32, copies: u64) -> Usage {
    let c = c as f64;
    Usage {
        lut: 9.0 * c + (copies - 1) as f64 * c,
        ff: 3.0 * 3.0 * c + (copies - 1) as f64 * c,
        ..Usage::default()
    }
}

fn scaled(u: &Usage, k: f64) -> Usage {
    Usage {
        lut: u.lut * k,
        ff: u.ff * k,
        dsp: u.dsp * k,
        bram: u.bram * k,
        uram: u.uram * k,
    }
}

fn plus(a: &Usage, b: &Usage) -> Usage {
    Usage {
        lut: a.lut + b.lut,
        ff: a.ff + b.ff,
        dsp: a.dsp + b.dsp,
        bram: a.bram + b.bram,
        uram: a.uram + b.uram,
    }
}

/// The usage of `cols` columns of `copies` each, interfaces included.
fn array_usage(card: &Card, s: &Shape, c: u32, cols: u64, copies: u64) -> Usage {
    let avail = Usage::available(card);
    let unit = fill_unit(card, s, c, avail.bram);
    let col = plus(&scaled(&unit, copies as f64), &peak_unit(c, copies));
    let mut u = scaled(&col, cols as f64);
    u.lut += model::INTERFACE_LUT;
    u.ff += model::INTERFACE_FF;
    u
}

impl FpgaKernel for HoughFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(fmt, hough_emulate, EmuFn, [(32, 0)])
            .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// `ap_fixed<32,0,Q,AP_WRAP>` with the card's Q: hit phases are 32-bit
    /// fractions of a turn that must wrap (2 pi = 0), which the card's
    /// AP_SAT would clip, and its 10 fraction bits would drop the phase's
    /// low 22 bits. In 32 fraction bits every value is exact (phase, r / 2^14
    /// and slope / 2^18 turns) and so is slope x r, so Q never acts.
    fn format(&self, card: Format) -> (Format, Option<String>) {
        let f = Format {
            width: PHASE_WIDTH,
            integer: 0,
            quant: card.quant,
            overflow: o::WRAP,
        };
        let why = format!(
            "hough runs in {f}: its phases are 32-bit fractions of a turn that wrap, which {card} would saturate and round to {} bits",
            card.frac()
        );
        (f, Some(why))
    }

    /// An array of q/pT columns (the CMS L1 track trigger's HT layout): per
    /// hit, every column computes phi + slope x r and increments the bin of
    /// the top `phibits` bits in its histogram at II = 1 (one copy of a
    /// column takes one hit per cycle). Columns: all q bins if they fit,
    /// else as many as fit, in passes that re-read the hits. Copies: each
    /// column is replicated H times, each copy taking every H-th hit, with
    /// H as large as the card's bandwidth feeds hits (8 bytes each) and the
    /// resources allow; the copies' histograms are summed while the peaks
    /// are found. Stages per pass: clear the histograms (nphi cycles), fill
    /// (hits / H trips; depth memory latency + multiply + add + read,
    /// increment, write), merge and find peaks (nphi + 2 trips: the phi
    /// neighbours of bin 0 wrap; every column scans in lock step, so the
    /// q neighbours come from the adjacent columns). Off chip: the hits
    /// once per pass, acc and peaks once (u32).
    fn design(&self, card: &Card, _fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let s = Shape::from_size(&inputs.size)?;
        let hits = s.hits() as u64;
        let c = counter_bits(s.hits());
        let avail = Usage::available(card);
        let fits = |cols: u64, copies: u64| array_usage(card, &s, c, cols, copies).over(&avail).is_none();
        let cols = (1..=s.qbins as u64).rev().find(|&k| fits(k, 1)).ok_or_else(|| Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!("hough: one column of {} bins does not fit {}", s.nphi(), card.name),
        })?;
        let passes = (s.qbins as u64).div_ceil(cols);
        let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
        let fed = ((bw / (card.clock_mhz.value * 1e6 * 8.0)).floor() as u64).max(1);
        let copies = (1..=fed).rev().find(|&h| fits(cols, h)).unwrap_or(1);
        let nphi = s.nphi() as u64;
        let clock = card.clock_mhz.value;
        let mult = model::wide_mult_latency(clock, fill_unit(card, &s, c, avail.bram).dsp);
        let fill_depth = model::MEMORY_LATENCY_CYCLES + mult + 1 + 2 + 1 + 1;
        let merge = (copies as f64).log2().ceil() as u64;
        let mut stages = vec![
            Stage::new("clear", nphi, 1, 2, cols),
            Stage::new("fill", hits.div_ceil(copies), 1, fill_depth, cols * copies),
            Stage::new("merge and find peaks", nphi + 2, 1, 2 + merge + 2, cols),
        ];
        for st in &mut stages {
            st.repeat = passes;
        }
        let bins = (s.qbins as u64 * nphi) as f64;
        let notes = vec![
            format!(
                "{cols} q/pT columns of {nphi} bins ({c}-bit counters in block RAM), {passes} pass(es); {copies} copies of each, fed {fed} hits per cycle by {:.1} GB/s at {clock} MHz",
                bw / 1e9
            ),
            "II = 1 per copy: a vote for a bin still being written is forwarded from the register (model assumption)".into(),
            "exact: integer hits, every value representable in ap_fixed<32,0>".into(),
        ];
        Ok(Design {
            stages,
            usage: array_usage(card, &s, c, cols, copies),
            offchip_bytes: passes as f64 * hits as f64 * 8.0 + 2.0 * bins * 4.0,
            host_bytes: hits as f64 * 8.0 + 4.0 * s.qbins as f64 + 2.0 * bins * 4.0,
            reuse_requested: 1,
            reuse_factor: 1,
            notes,
        })
    }

    /// Exact: the hits are integers (u32 phases, r in mm, integer slopes)
    /// and ap_fixed<32,0> holds each of them and slope x r exactly, the sum
    /// wraps as u32 arithmetic does, and the counts are integers. Nothing
    /// is quantised: the accumulator and the peaks must equal the
    /// reference, as on every other backend.
    fn tolerance(&self, _inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        Ok((
            Tolerance { rel: 0.0, abs: 0.0 },
            format!(
                "exact: hit phases, r / 2^14 and slope / 2^18 (turns) and slope x r are exact in {fmt}, the phase sum wraps as u32 does, votes are integer counts"
            ),
        ))
    }

    fn rel_error_of(&self) -> &'static str {
        "each bin's votes (exact comparison)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::fpga::fixed::q;
    use crate::kernels::Registry;
    use crate::kernels::testing::inputs;

    /// One hit at phi = 0x7800_0000 (15/32 turn), r = 4096 mm (1/4 in
    /// units of 2^14 mm), one q bin of slope 2^16 (1/4 turn per 2^14 mm),
    /// 8 phi bins, by hand: phi0 = 15/32 + 1/16 = 17/32 turn, bin
    /// floor(17/32 x 8) = 4, as u32 arithmetic gives. In ap_fixed<32,0>
    /// 17/32 is past +1/2: WRAP keeps the fraction (-15/32, i.e. 17/32 mod
    /// 1), while SAT would clip it to 1/2 - 2^-32 and vote in bin 3.
    #[test]
    fn a_vote_that_wraps_past_half_a_turn_by_hand() {
        type Wrap = crate::fpga::ApFixed<32, 0, { q::RND_CONV }, { o::WRAP }>;
        type Sat = crate::fpga::ApFixed<32, 0, { q::RND_CONV }, { o::SAT }>;
        let (r, phi, m) = (4096u32, 0x7800_0000u32, 1u32 << 16);
        assert_eq!(super::super::reference(&[r], &[phi], &[m], 8, 1)[0][4], 1);
        fn one<S: Scalar>(r: u32, phi: u32, m: u32) -> Vec<u32> {
            let f = |x: f64| S::from_f64(x);
            let [acc, _] = super::super::reference_generic(
                &[f(super::super::radius_turns(r))],
                &[f(super::super::phase_turns(phi))],
                &[f(super::super::slope_turns(m))],
                8,
                1,
            );
            acc
        }
        assert_eq!(one::<Wrap>(r, phi, m), vec![0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(one::<Sat>(r, phi, m), vec![0, 0, 0, 1, 0, 0, 0, 0]);
    }

    #[test]
    fn tiny_is_exact_on_every_card() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("hough").unwrap();
        let x = inputs("hough", &[]);
        for c in card::load(None).unwrap() {
            let (fmt, why) = HoughFpga.format(c.fixed_format().unwrap());
            assert_eq!((fmt.width, fmt.integer, fmt.overflow), (32, 0, o::WRAP));
            assert!(why.unwrap().contains("wrap"));
            let mut out = HoughFpga.emulate(&x, fmt).unwrap();
            let (tol, _) = HoughFpga.tolerance(&x, &fmt).unwrap();
            let v = k.kernel.verify(&x, &out, tol).unwrap();
            assert!(v.passed && v.max_abs_error == 0.0, "{v:?}");
            if let Some(Buffer::U32(acc)) = out.get_mut("acc") {
                acc[3] += 1;
            }
            assert!(!k.kernel.verify(&x, &out, tol).unwrap().passed);
        }
    }

    /// tiny (205 hits, 29 q bins x 512 phi bins) on the U250, by hand:
    /// counters of 8 bits (205 votes), r up to 900 mm (10 bits): slope x r
    /// is 32 x 10 bits, 2 DSP48E2; a histogram of 512 x 8 bits is one
    /// BRAM36. The bandwidth feeds floor(65.45e9 / 300e6 / 8) = 27 hits per
    /// cycle and 29 x 27 copies fit (1566 DSPs, 783 BRAMs): one pass.
    /// Clear 511 + 2 = 513 cycles; fill ceil(205 / 27) = 8 trips, depth
    /// 64 + (3 + 1) + 5 = 73: 80 cycles; peaks 514 trips, depth 2 + 5 (27
    /// copies merged) + 2 = 9: 522 cycles; 1115 in all. LUTs: 5000 + 29 x
    /// (27 x (32 + 8 + 36) + 9 x 8 + 26 x 8) = 72,628.
    #[test]
    fn tiny_on_the_u250_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let (fmt, _) = HoughFpga.format(c.fixed_format().unwrap());
        let d = HoughFpga.design(c, &fmt, &inputs("hough", &[])).unwrap();
        let ev = model::evaluate(c, &fmt, &d);
        let cycles: Vec<u64> = d.stages.iter().map(Stage::cycles).collect();
        assert_eq!(cycles, vec![513, 80, 522]);
        assert_eq!(d.stages[1].parallelism, 29 * 27);
        assert_eq!((ev.usage.dsp, ev.usage.bram, ev.usage.lut), (1566.0, 783.0, 72_628.0));
        assert_eq!(ev.compute_cycles, 1115);
        assert_eq!(ev.bound, "compute");
    }
}
