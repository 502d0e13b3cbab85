//! `conv2d` on the FPGA emulation: a dense engine over im2col rows built on
//! chip from line buffers (k - 1 rows per input channel), weights
//! stationary; tolerance e(T Mx + Sw) + T e^2 + e over T = cin k^2 taps
//! (hard).

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, DenseShape, Design, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, max_abs_raw, quantize, to_f32, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct ConvFpga;

fn conv_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let x = quantize::<S>(inputs.buffers.f32("x")?);
    let wt = quantize::<S>(inputs.buffers.f32("wt")?);
    let y = super::reference_generic(&inputs.size, &x, &wt)?;
    let mut out = Buffers::default();
    out.push("y", Buffer::F32(to_f32(&y)));
    Ok(out)
}

impl FpgaKernel for ConvFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = fixed_instance!(
            fmt,
            conv_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// A dense engine over im2col rows: the cout x (cin k^2) weights
    /// stationary on chip (run-time data, loaded once), one output pixel
    /// (an im2col row of cin k^2 taps, built on chip) every II = R cycles.
    /// Line buffers hold k - 1 rows of every input channel (one bank per
    /// channel and row) and a k x k x cin window of registers feeds the
    /// multipliers; the first pixel waits for k/2 rows and k/2 values.
    /// x, the weights and y move off chip once.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let [n, cin, cout, h, w, k] = super::dims(&inputs.size)?;
        let taps = (cin * k * k) as u64;
        let shape = DenseShape {
            n_in: taps,
            n_out: cout as u64,
            rows: (n * h * w) as u64,
        };
        let (mut stage, mut usage, r, mut notes) =
            model::dense(card, fmt, "output pixels", shape, card.reuse_factor)?;
        let avail = Usage::available(card);
        let bits = fmt.width as f64;
        let lines = model::buffer_blocks(
            card,
            ((k - 1) * w * cin) as f64 * bits,
            ((k - 1) * cin) as u64,
            avail.bram - usage.bram,
        );
        usage.bram += lines.bram;
        usage.uram += lines.uram;
        usage.ff += (k * k * cin) as f64 * bits;
        if let Some(res) = usage.over(&avail) {
            return Err(Error::Unsupported {
                backend: "fpga-emu".into(),
                message: format!(
                    "conv2d's engine and line buffers exceed the usable {res} of {}",
                    card.name
                ),
            });
        }
        stage.depth += ((k / 2) * w + k / 2) as u64;
        notes.push(format!(
            "im2col rows built on chip: line buffers of {} rows x {w} per input channel ({} BRAM, {} URAM), a {k}x{k}x{cin} register window; weights stationary",
            k - 1,
            lines.bram,
            lines.uram
        ));
        let load = model::load_stage(card, fmt, "load weights", cout as u64 * taps);
        let values = (n * cin * h * w + cout * cin * k * k + n * cout * h * w) as f64;
        Ok(Design {
            stages: vec![load, stage],
            usage,
            offchip_bytes: values * model::storage_bytes(fmt),
            host_bytes: values * 4.0,
            reuse_requested: card.reuse_factor,
            reuse_factor: r,
            notes,
        })
    }

    /// Per output, Q(x)Q(w) - xw = x dw + w dx + dx dw with |dx|, |dw| <= e
    /// (quantisation of the inputs); products and the accumulator are
    /// exact, the output cast adds e. Over the T = cin k^2 taps (at most;
    /// padding taps are zero): |err| <= e (T Mx + Sw) + T e^2 + e, with Mx
    /// the largest |x| and Sw the largest sum of |w| over one output
    /// channel's filter: `abs`, a hard bound. `rel` covers the f64
    /// reference's own rounding (T u of the scale) and the f32 outputs.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let [_, cin, cout, _, _, k] = super::dims(&inputs.size)?;
        let taps = cin * k * k;
        let e = fmt.quant_error();
        let mx = max_abs_raw(inputs.buffers.f32("x")?);
        let wt = inputs.buffers.f32("wt")?;
        let sw = (0..cout)
            .map(|o| {
                wt[o * taps..(o + 1) * taps]
                    .iter()
                    .map(|&v| (v as f64).abs())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        let t = taps as f64;
        let abs = e * (t * mx + sw) + t * e * e + e;
        let rel = t * f64::EPSILON / 2.0 + f32_rel(fmt);
        Ok((
            Tolerance { rel, abs },
            format!(
                "abs = e(T Mx + Sw) + T e^2 + e with T = {taps} taps, Mx = {mx}, Sw = {sw:.4}, e = {e:e} (quantisation error of {fmt}); a hard bound"
            ),
        ))
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{inputs, passes_on_every_card};

    #[test]
    fn conv2d_fixed_point_passes_on_every_card() {
        let inputs = inputs("conv2d", &[]);
        let e = 2f64.powi(-11);
        // T = 3 * 25 taps, |x| < 1: the bound is about 76 e (0.037).
        let (tol, _) = ConvFpga
            .tolerance(
                &inputs,
                &Format::parse("ap_fixed<18,8,AP_RND_CONV,AP_SAT>").unwrap(),
            )
            .unwrap();
        assert!(tol.abs > 75.0 * e && tol.abs < 90.0 * e, "{tol:?}");
        passes_on_every_card("conv2d", &ConvFpga, &inputs, 0.05);
    }
}
