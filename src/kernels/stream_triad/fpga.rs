//! `stream_triad` on the FPGA emulation: a streaming engine with as many
//! lanes as the bandwidth feeds; tolerance e(2 + |s|) + |Q(s) - s| max|c|
//! (hard).

use rayon::prelude::*;

use crate::error::Result;
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{self, Design, Usage};
use crate::fpga::scalar::Scalar;
use crate::kernel::fpga::{EmuFn, FpgaKernel, f32_rel, fixed_instance, max_abs, unsupported_format};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};

pub(super) struct TriadFpga;

/// Elements quantised and computed per parallel chunk (bounds the memory
/// the emulation adds at large sizes).
const TRIAD_CHUNK: usize = 1 << 16;

fn triad_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let b = inputs.buffers.f32("b")?;
    let c = inputs.buffers.f32("c")?;
    let s = S::from_f64(super::SCALAR as f64);
    let mut a = vec![0.0f32; b.len()];
    a.par_chunks_mut(TRIAD_CHUNK)
        .zip(b.par_chunks(TRIAD_CHUNK).zip(c.par_chunks(TRIAD_CHUNK)))
        .for_each(|(a, (b, c))| {
            let qb: Vec<S> = b.iter().map(|&x| S::from_f64(x as f64)).collect();
            let qc: Vec<S> = c.iter().map(|&x| S::from_f64(x as f64)).collect();
            let r = super::reference_generic(s, &qb, &qc);
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
        let f = fixed_instance!(
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
        let s = super::SCALAR as f64;
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
