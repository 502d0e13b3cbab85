//! `stencil3d` on the FPGA emulation: step engines chained on chip (temporal
//! blocking), each with line buffers of two planes and two rows, as many as
//! the card holds, the rest as passes through off-chip memory; tolerance
//! (S + 1) e after S steps (hard: the weights are a convex combination).

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, Stage, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct StencilFpga;

fn stencil_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let u0 = quantize::<S>(inputs.buffers.f32("u0")?);
    let u = super::reference_generic(&inputs.size, &u0)?;
    let mut out = Buffers::default();
    out.push("u", Buffer::F32(to_f32(&u)));
    Ok(out)
}

impl FpgaKernel for StencilFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(
            fmt,
            stencil_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// The grid streams through a chain of step engines (temporal
    /// blocking): each engine holds two planes and two rows of line
    /// buffers (the z and y neighbours), L points enter per cycle (L lanes
    /// along x, as many as the bandwidth feeds with one read and one write
    /// per point), and every engine adds its buffers' fill (one plane, one
    /// row and one point) and its arithmetic to the depth. As many steps
    /// are chained as the card holds; the rest run as further passes
    /// through off-chip memory, each pass reading and writing the grid
    /// once. The weights 1/4 and 1/8 are shifts (no DSP). If no engine
    /// fits, the lanes are halved.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let [nx, ny, nz, steps] = super::dims(&inputs.size)?;
        let points = (nx * ny * nz) as u64;
        let clock = card.clock_mhz.value;
        let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
        let bytes = model::storage_bytes(fmt);
        let fabric = [super::C0, super::C1]
            .iter()
            .filter(|&&c| model::in_fabric(fmt.from_f64(c as f64)))
            .count() as u64;
        let ops = model::LaneOps {
            mults: 2 - fabric,
            fabric_mults: fabric,
            adds: 6,
            divs: 0,
            // 3 levels of the neighbour sum, the product, the final add.
            depth: 3u64.div_ceil(model::adder_levels_per_cycle(clock))
                + if fabric == 2 {
                    0
                } else {
                    model::mult_latency(clock)
                }
                + 1,
            extra: Usage::default(),
        };
        let avail = Usage::available(card);
        let buffer_bits = (2 * nx * ny + 2 * nx + 2) as f64 * fmt.width as f64;
        let mut lanes = ((bw / (clock * 1e6 * 2.0 * bytes)).ceil() as u64).max(1);
        let (engine, chain) = loop {
            let per_lane = ops.usage(card, fmt, 2.0);
            let buffers = model::buffer_blocks(card, buffer_bits, lanes, avail.bram);
            let n = lanes as f64;
            let engine = Usage {
                dsp: n * per_lane.dsp,
                lut: n * per_lane.lut,
                ff: n * per_lane.ff,
                bram: buffers.bram,
                uram: buffers.uram,
            };
            let fit = model::lanes_that_fit(card, &engine);
            if fit >= 1 {
                break (engine, fit.min(steps as u64));
            }
            if lanes == 1 {
                return Err(Error::Unsupported {
                    backend: "fpga-emu".into(),
                    message: format!(
                        "stencil3d: one step engine for a {nx}x{ny} plane exceeds {}",
                        card.name
                    ),
                });
            }
            lanes /= 2;
        };
        let passes = (steps as u64).div_ceil(chain);
        let fill = ((nx * ny + nx + 1) as u64).div_ceil(lanes);
        let mut stage = Stage::new(
            &format!("pass ({chain} chained steps)"),
            points.div_ceil(lanes),
            1,
            model::MEMORY_LATENCY_CYCLES + chain * (fill + ops.depth),
            lanes * chain,
        );
        stage.repeat = passes;
        let k = chain as f64;
        let usage = Usage {
            dsp: k * engine.dsp,
            lut: model::INTERFACE_LUT + k * engine.lut,
            ff: model::INTERFACE_FF + k * engine.ff,
            bram: k * engine.bram,
            uram: k * engine.uram,
        };
        let notes = vec![
            format!(
                "{chain} of {steps} steps chained on chip (temporal blocking), {passes} pass(es) through off-chip memory; {lanes} points per cycle"
            ),
            format!(
                "each step engine: line buffers of 2 planes + 2 rows ({:.0} Kbit in {} BRAM, {} URAM, {lanes} banks); {fabric} of its 2 multiplies are shifts",
                buffer_bits / 1024.0,
                engine.bram,
                engine.uram
            ),
        ];
        let values = 2.0 * points as f64;
        Ok(Design {
            stages: vec![stage],
            usage,
            offchip_bytes: passes as f64 * values * bytes,
            host_bytes: values * 4.0,
            reuse_requested: card.reuse_factor,
            reuse_factor: 1,
            notes,
        })
    }

    /// Inputs are quantised within e; each step computes c0 v + c1 s
    /// exactly (the weights 1/4 and 1/8 are exact, the neighbour sum is
    /// exact in range) and casts once (error <= e). The weights are
    /// non-negative and sum to 1, so an error carried into a step is not
    /// amplified (maximum norm); boundary points are copied. After S steps
    /// |err| <= (S + 1) e: `abs`, a hard bound (values stay in [0, 1], in
    /// range of every compiled format). `rel` covers the f64 reference's
    /// rounding (4 S u) and the f32 outputs.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let [_, _, _, steps] = super::dims(&inputs.size)?;
        let e = fmt.quant_error();
        let s = steps as f64;
        Ok((
            Tolerance {
                rel: 4.0 * s * f64::EPSILON / 2.0 + f32_rel(fmt),
                abs: (s + 1.0) * e,
            },
            format!(
                "abs = (S + 1) e with S = {steps} steps, e = {e:e} (quantisation error of {fmt}); a hard bound"
            ),
        ))
    }

    fn rel_error_of(&self) -> &'static str {
        "each point's reference value"
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;
    use crate::kernels::testing::{inputs, passes_on_every_card};

    #[test]
    fn stencil3d_fixed_point_passes_on_every_card() {
        let inputs = inputs("stencil3d", &[]);
        // 8 steps of <18,8> RND_CONV: abs = 9 * 2^-11.
        let (tol, _) = StencilFpga
            .tolerance(
                &inputs,
                &Format::parse("ap_fixed<18,8,AP_RND_CONV,AP_SAT>").unwrap(),
            )
            .unwrap();
        assert_eq!(tol.abs, 9.0 / 2048.0);
        passes_on_every_card("stencil3d", &StencilFpga, &inputs, 0.005);
    }

    /// The stencil's tiny grid on the U250, by hand: 28 lanes (65.45 GB/s
    /// at 300 MHz over 8 bytes per point); each engine's line buffers are
    /// (2 * 61 * 29 + 2 * 61 + 2) * 18 bits in 28 banks of one BRAM36; all
    /// 8 steps chain (8 * 28 BRAM). trips ceil(40687 / 28) = 1454; depth
    /// 64 + 8 * (fill ceil(1831 / 28) = 66 + 2 (one adder cycle, shifts,
    /// one add)) = 608: 1453 + 608 = 2061 cycles. No DSP: 1/4 and 1/8 are
    /// shifts. A 512 x 512 plane needs 10 BRAM36 per bank: 7 engines fit
    /// 2016 BRAM, so 8 steps take two passes.
    #[test]
    fn stencil3d_design_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let fmt = c.fixed_format().unwrap();
        let d = StencilFpga
            .design(c, &fmt, &inputs("stencil3d", &[]))
            .unwrap();
        let ev = model::evaluate(c, &fmt, &d);
        assert_eq!(d.stages[0].parallelism, 28 * 8);
        assert_eq!(ev.compute_cycles, 2061);
        assert_eq!((ev.usage.dsp, ev.usage.bram), (0.0, 8.0 * 28.0));
        assert_eq!(d.offchip_bytes, 2.0 * 40687.0 * 4.0);
        let big = inputs("stencil3d", &[("nx", 512), ("ny", 512), ("nz", 3)]);
        let d = StencilFpga.design(c, &fmt, &big).unwrap();
        assert_eq!((d.stages[0].repeat, d.usage.bram), (2, 7.0 * 280.0));
        assert_eq!(d.offchip_bytes, 2.0 * 2.0 * (512.0 * 512.0 * 3.0) * 4.0);
    }
}
