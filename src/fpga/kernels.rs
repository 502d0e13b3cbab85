//! Per-kernel FPGA adapters: how each kernel with a fixed-point path runs
//! bit-accurately, what pipelined design stands for it, and the tolerance
//! its fixed-point outputs are verified with. See `src/fpga/mod.rs` for how
//! a kernel plugs in.

use rayon::prelude::*;

use super::card::Card;
use super::fixed::{ApFixed, Format, o, q};
use super::model::{self, DenseShape, Design, Stage, Usage, Weights};
use super::scalar::Scalar;
use crate::error::{Error, Result};
use crate::kernel::{Buffer, Buffers, Inputs, Tolerance};
use crate::kernels::{conv2d, gemm, kalman_fit, mlp_jet, stencil3d, stream_triad};

/// A kernel's fixed-point path.
pub trait FpgaKernel: Sync {
    /// Runs the kernel's own generic reference in `fmt`; outputs as f32
    /// buffers of the kernel's output names (exact for W <= 24).
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers>;
    /// The pipelined design at `inputs`' size on `card`.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design>;
    /// The tolerance of the fixed-point outputs against the f64 reference,
    /// with its derivation in words.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)>;
    /// The format the kernel runs in on a card whose format is `card`, with
    /// the reason when it is another (a kernel whose values the card's
    /// format cannot represent). Default: the card's.
    fn format(&self, card: Format) -> (Format, Option<String>) {
        (card, None)
    }
    /// What the relative error of the accuracy report is relative to (the
    /// `scale` of the kernel's verification).
    fn rel_error_of(&self) -> &'static str {
        "each element's scale (sum of |terms|), as the kernel's verification defines it"
    }
}

/// The adapter of kernel `name`, if it has a fixed-point path.
pub fn adapter(name: &str) -> Option<&'static dyn FpgaKernel> {
    match name {
        "gemm" => Some(&GemmFpga),
        "stream_triad" => Some(&TriadFpga),
        "mlp_jet" => Some(&MlpJetFpga),
        "conv2d" => Some(&ConvFpga),
        "stencil3d" => Some(&StencilFpga),
        "kalman_fit" => Some(&KalmanFpga),
        _ => None,
    }
}

/// The formats the emulation is compiled for (each a monomorphised
/// `ApFixed`): these widths with TRN/RND/RND_CONV and WRAP/SAT.
pub const FORMATS: &str = "ap_fixed<16,6>, <18,8>, <24,12>, <32,16> with AP_TRN, AP_RND or AP_RND_CONV and AP_WRAP or AP_SAT (kalman_fit: ap_fixed<64,18> with those modes)";

/// Picks the monomorphised instance of generic fn `$f` for format `$fmt`.
macro_rules! instance {
    ($fmt:expr, $f:ident, $ty:ty, [$(($w:literal, $i:literal)),*]) => {
        match ($fmt.width, $fmt.integer, $fmt.quant, $fmt.overflow) {
            $(
                ($w, $i, q::TRN, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::TRN }, { o::WRAP }>> as $ty),
                ($w, $i, q::TRN, o::SAT) => Some($f::<ApFixed<$w, $i, { q::TRN }, { o::SAT }>> as $ty),
                ($w, $i, q::RND, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::RND }, { o::WRAP }>> as $ty),
                ($w, $i, q::RND, o::SAT) => Some($f::<ApFixed<$w, $i, { q::RND }, { o::SAT }>> as $ty),
                ($w, $i, q::RND_CONV, o::WRAP) => Some($f::<ApFixed<$w, $i, { q::RND_CONV }, { o::WRAP }>> as $ty),
                ($w, $i, q::RND_CONV, o::SAT) => Some($f::<ApFixed<$w, $i, { q::RND_CONV }, { o::SAT }>> as $ty),
            )*
            _ => None,
        }
    };
}

type EmuFn = fn(&Inputs) -> Result<Buffers>;

fn unsupported_format(fmt: &Format) -> Error {
    Error::Unsupported {
        backend: "fpga-emu".into(),
        message: format!("format {fmt} is not compiled in; supported: {FORMATS}"),
    }
}

fn quantize<S: Scalar>(v: &[f32]) -> Vec<S> {
    v.par_iter().map(|&x| S::from_f64(x as f64)).collect()
}

fn to_f32<S: Scalar>(v: &[S]) -> Vec<f32> {
    v.par_iter().map(|x| x.to_f64() as f32).collect()
}

/// Largest |value| of the inputs after quantisation to `fmt`.
fn max_abs(fmt: &Format, v: &[f32]) -> f64 {
    v.par_iter()
        .map(|&x| fmt.to_f64(fmt.from_f64(x as f64)).abs())
        .reduce(|| 0.0, f64::max)
}

/// Largest |value| of the inputs as given (before quantisation).
fn max_abs_raw(v: &[f32]) -> f64 {
    v.par_iter()
        .map(|&x| (x as f64).abs())
        .reduce(|| 0.0, f64::max)
}

/// Outputs are f32 buffers: exact for W <= 24, else rounded once more.
fn f32_rel(fmt: &Format) -> f64 {
    if fmt.width <= 24 { 0.0 } else { 2f64.powi(-24) }
}

struct GemmFpga;

fn gemm_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let n = inputs.size.usize("n", 32_768)?;
    let a = quantize::<S>(inputs.buffers.f32("a")?);
    let b = quantize::<S>(inputs.buffers.f32("b")?);
    let c = gemm::reference_generic(n, &a, &b);
    let mut out = Buffers::default();
    out.push("c", Buffer::F32(to_f32(&c)));
    Ok(out)
}

impl FpgaKernel for GemmFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
            fmt,
            gemm_emulate,
            EmuFn,
            [(16, 6), (18, 8), (24, 12), (32, 16)]
        )
        .ok_or_else(|| unsupported_format(&fmt))?;
        f(inputs)
    }

    /// The faster of two designs (by the model's latency on `card`):
    /// [`gemm_stationary`] (B on chip whole) and, when B is too large for
    /// the multipliers' banks at the DSP-bound reuse factor, [`gemm_tiled`]
    /// (B in column tiles from off-chip memory). Stationary B needs one
    /// bank per multiplier, R words deep: beyond the LUTRAM depth the banks
    /// go to block RAM, whose count (not capacity) runs out first, and the
    /// reuse factor climbs far above what the DSPs need; tiling keeps R at
    /// the DSP bound and pays with A re-streamed once per tile.
    fn design(&self, card: &Card, fmt: &Format, inputs: &Inputs) -> Result<Design> {
        let n = inputs.size.usize("n", 32_768)? as u64;
        let stationary = gemm_stationary(card, fmt, n);
        let tiled = gemm_tiled(card, fmt, n)?;
        let latency = |d: &Design| model::evaluate(card, fmt, d).latency_s;
        match (stationary, tiled) {
            (Ok(s), Some(mut t)) => {
                if latency(&t) < latency(&s) {
                    t.notes.push(format!(
                        "tiled: {:.3e} s against {:.3e} s with B stationary at R = {}",
                        latency(&t),
                        latency(&s),
                        s.reuse_factor
                    ));
                    Ok(t)
                } else {
                    Ok(s)
                }
            }
            (Err(_), Some(t)) => Ok(t),
            (s, _) => s,
        }
    }

    /// Inputs are quantised with error e <= `quant_error` each; products
    /// and the accumulator are exact; the output cast adds e. For an entry,
    /// |err| <= sum_k (|a_k| e + |b_k| e + e^2) + e <= n (2 M e + e^2) + e
    /// with M the largest |input|: that is `abs`, a hard bound. Freivalds'
    /// row checks sum n entry errors with random signs; `rel` = 16 e / n
    /// (x the row scale of about n^2/4) adds 4 n e for them.
    fn tolerance(&self, inputs: &Inputs, fmt: &Format) -> Result<(Tolerance, String)> {
        let n = inputs.size.usize("n", 32_768)? as f64;
        let e = fmt.quant_error();
        let m = max_abs(fmt, inputs.buffers.f32("a")?).max(max_abs(fmt, inputs.buffers.f32("b")?));
        let abs = n * (2.0 * m * e + e * e) + e;
        let rel = 16.0 * e * m.max(1.0) / n + f32_rel(fmt);
        Ok((
            Tolerance { rel, abs },
            format!(
                "abs = n(2Me + e^2) + e, rel = 16e/n with n = {n}, e = {e:e} (quantisation error of {fmt}), M = {m}"
            ),
        ))
    }
}

/// `gemm` as hls4ml's dense layer: B (n x n) stationary on chip, loaded
/// once; the n rows of A stream through at II = R.
fn gemm_stationary(card: &Card, fmt: &Format, n: u64) -> Result<Design> {
    let shape = DenseShape {
        n_in: n,
        n_out: n,
        rows: n,
    };
    let (stage, usage, r, mut notes) = model::dense(card, fmt, "rows", shape, card.reuse_factor)?;
    let load = model::load_stage(card, fmt, "load B", n * n);
    let bytes = model::storage_bytes(fmt);
    notes.push("B is stationary on chip: A and C stream once, B loads once".into());
    Ok(Design {
        stages: vec![load, stage],
        usage,
        offchip_bytes: 3.0 * (n * n) as f64 * bytes,
        host_bytes: 3.0 * (n * n) as f64 * 4.0,
        reuse_requested: card.reuse_factor,
        reuse_factor: r,
        notes,
    })
}

/// `gemm` with B tiled from off-chip memory, `None` when B fits in one
/// tile. A tile is n x t columns of B, t as large as P multipliers (the
/// usable DSPs over the DSPs per multiply) hold in LUTRAM banks
/// ([`model::LUTRAM_DEPTH`] words each): t = floor(P * 64 / n), evened out
/// over ceil(n / t) tiles. Per tile: load it ([`model::load_stage`]), then
/// stream all n rows of A through a dense engine of n x t at its own reuse
/// factor. Off chip: B once, A once per tile, C once.
fn gemm_tiled(card: &Card, fmt: &Format, n: u64) -> Result<Option<Design>> {
    let avail = Usage::available(card);
    let multipliers = (avail.dsp / card.dsp_rule.blocks(fmt.width, fmt.width)).floor() as u64;
    let t0 = (multipliers * model::LUTRAM_DEPTH / n.max(1)).clamp(1, n.max(1));
    let tiles = n.div_ceil(t0);
    if tiles <= 1 {
        return Ok(None);
    }
    let t = n.div_ceil(tiles);
    let shape = DenseShape {
        n_in: n,
        n_out: t,
        rows: n,
    };
    let (mut rows, usage, r, mut notes) =
        model::dense(card, fmt, "rows of A, per tile", shape, card.reuse_factor)?;
    rows.repeat = tiles;
    let mut load = model::load_stage(card, fmt, "load a tile of B", n * t);
    load.repeat = tiles;
    notes.push(format!(
        "B streamed from off-chip memory in {tiles} tiles of {n} x {t}: per tile, load it, then stream the {n} rows of A (A read {tiles} times)"
    ));
    let nn = (n * n) as f64;
    Ok(Some(Design {
        stages: vec![load, rows],
        usage,
        offchip_bytes: (2 + tiles) as f64 * nn * model::storage_bytes(fmt),
        host_bytes: 3.0 * nn * 4.0,
        reuse_requested: card.reuse_factor,
        reuse_factor: r,
        notes,
    }))
}

struct TriadFpga;

/// Elements quantised and computed per parallel chunk (bounds the memory
/// the emulation adds at large sizes).
const TRIAD_CHUNK: usize = 1 << 16;

fn triad_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let b = inputs.buffers.f32("b")?;
    let c = inputs.buffers.f32("c")?;
    let s = S::from_f64(stream_triad::SCALAR as f64);
    let mut a = vec![0.0f32; b.len()];
    a.par_chunks_mut(TRIAD_CHUNK)
        .zip(b.par_chunks(TRIAD_CHUNK).zip(c.par_chunks(TRIAD_CHUNK)))
        .for_each(|(a, (b, c))| {
            let qb: Vec<S> = b.iter().map(|&x| S::from_f64(x as f64)).collect();
            let qc: Vec<S> = c.iter().map(|&x| S::from_f64(x as f64)).collect();
            let r = stream_triad::reference_generic(s, &qb, &qc);
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
        let f = instance!(
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
        let s = stream_triad::SCALAR as f64;
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

struct MlpJetFpga;

const JET_MAX_EVENTS: usize = 1 << 26;
const JET_FEATURES: usize = mlp_jet::DIMS[0];
const JET_CLASSES: usize = mlp_jet::DIMS[4];

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
    let z = mlp_jet::reference_generic(n, &x, &w);
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
        let f = instance!(
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
            let (k, j) = (mlp_jet::DIMS[l], mlp_jet::DIMS[l + 1]);
            let off = mlp_jet::LAYER_OFFSETS[l];
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
                    let (kd, jd) = (mlp_jet::DIMS[l], mlp_jet::DIMS[l + 1]);
                    let wl = &w[mlp_jet::LAYER_OFFSETS[l]..][..kd * jd];
                    let b = &w[mlp_jet::LAYER_OFFSETS[l] + kd * jd..][..jd];
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

struct ConvFpga;

fn conv_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let x = quantize::<S>(inputs.buffers.f32("x")?);
    let wt = quantize::<S>(inputs.buffers.f32("wt")?);
    let y = conv2d::reference_generic(&inputs.size, &x, &wt)?;
    let mut out = Buffers::default();
    out.push("y", Buffer::F32(to_f32(&y)));
    Ok(out)
}

impl FpgaKernel for ConvFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
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
        let [n, cin, cout, h, w, k] = conv2d::dims(&inputs.size)?;
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
        let [_, cin, cout, _, _, k] = conv2d::dims(&inputs.size)?;
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

struct StencilFpga;

fn stencil_emulate<S: Scalar>(inputs: &Inputs) -> Result<Buffers> {
    let u0 = quantize::<S>(inputs.buffers.f32("u0")?);
    let u = stencil3d::reference_generic(&inputs.size, &u0)?;
    let mut out = Buffers::default();
    out.push("u", Buffer::F32(to_f32(&u)));
    Ok(out)
}

impl FpgaKernel for StencilFpga {
    fn emulate(&self, inputs: &Inputs, fmt: Format) -> Result<Buffers> {
        let f = instance!(
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
        let [nx, ny, nz, steps] = stencil3d::dims(&inputs.size)?;
        let points = (nx * ny * nz) as u64;
        let clock = card.clock_mhz.value;
        let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
        let bytes = model::storage_bytes(fmt);
        let fabric = [stencil3d::C0, stencil3d::C1]
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
        let [_, _, _, steps] = stencil3d::dims(&inputs.size)?;
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

struct KalmanFpga;

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
    let (n, m) = kalman_fit::model_of(&inputs.size)?;
    let hx = quantize::<S>(inputs.buffers.f32("hx")?);
    let hy = quantize::<S>(inputs.buffers.f32("hy")?);
    let (params, chi2) = kalman_fit::reference_generic(&m, n, &hx, &hy);
    let mut out = Buffers::default();
    out.push("params", Buffer::F32(to_f32(&params)));
    out.push("chi2", Buffer::F32(to_f32(&chi2)));
    Ok(out)
}

type TolFn = fn(&Inputs) -> Result<(Tolerance, String)>;

/// f64 unit roundoff, 2^-53.
const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// One operation of the f64 filter on the tape of [`Lin`]: its parents
/// with the partial derivatives, and the size of the error this operation
/// itself adds when the code runs in `S` (its cast's rounding, or the
/// input's quantisation) plus the f64 reference's own rounding.
#[derive(Clone, Copy)]
struct TapeNode {
    parents: [(u32, f64); 3],
    arity: u8,
    err: f64,
}

thread_local! {
    /// The tape of the track being bounded, and the largest |value| on it.
    static TAPE: std::cell::RefCell<(Vec<TapeNode>, f64)> =
        const { std::cell::RefCell::new((Vec::new(), 0.0)) };
}

/// A value of the f64 filter, recorded on a per-thread tape so that the
/// first-order sensitivity of each output to every elementary error (each
/// cast's rounding in `S`, each input's quantisation, the f64 reference's
/// rounding) comes from one backward pass (reverse-mode differentiation).
/// Unlike a running worst-case bound, which treats the errors of the
/// covariance and of the gain computed from it as independent and grows
/// past any use after seven planes, the adjoints keep their correlation:
/// the filter's update cancels most of an error in the covariance.
#[derive(Clone, Copy)]
struct Lin<S> {
    v: f64,
    id: u32,
    _s: std::marker::PhantomData<S>,
}

impl<S: Scalar> Lin<S> {
    fn push(v: f64, parents: &[(u32, f64)], err: f64) -> Self {
        let mut node = TapeNode {
            parents: [(0, 0.0); 3],
            arity: parents.len() as u8,
            err,
        };
        node.parents[..parents.len()].copy_from_slice(parents);
        let id = TAPE.with(|t| {
            let mut t = t.borrow_mut();
            t.0.push(node);
            t.1 = t.1.max(v.abs());
            t.0.len() as u32 - 1
        });
        Lin {
            v,
            id,
            _s: std::marker::PhantomData,
        }
    }

    /// The rounding error of one cast to `S`.
    fn q() -> f64 {
        S::format().map_or(0.0, |f| f.quant_error())
    }
}

impl<S: Scalar> std::ops::Add for Lin<S> {
    type Output = Self;
    /// Fixed-point sums of one format are exact.
    fn add(self, o: Self) -> Self {
        let v = self.v + o.v;
        Self::push(v, &[(self.id, 1.0), (o.id, 1.0)], v.abs() * UNIT_ROUNDOFF)
    }
}

impl<S: Scalar> std::ops::Sub for Lin<S> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        let v = self.v - o.v;
        Self::push(v, &[(self.id, 1.0), (o.id, -1.0)], v.abs() * UNIT_ROUNDOFF)
    }
}

impl<S: Scalar> std::ops::Mul for Lin<S> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        let v = self.v * o.v;
        Self::push(
            v,
            &[(self.id, o.v), (o.id, self.v)],
            Self::q() + v.abs() * UNIT_ROUNDOFF,
        )
    }
}

impl<S: Scalar> kalman_fit::Real for Lin<S> {
    fn from_f32(x: f32) -> Self {
        let v = x as f64;
        Self::push(v, &[], (S::from_f64(v).to_f64() - v).abs())
    }
    fn recip(self) -> Self {
        let v = 1.0 / self.v;
        Self::push(v, &[(self.id, -v * v)], Self::q() + v.abs() * UNIT_ROUNDOFF)
    }
    /// Fused in fixed point (one cast), two roundings in the f64 filter.
    fn mul_add(a: Self, b: Self, c: Self) -> Self {
        let p = a.v * b.v;
        let v = p + c.v;
        Self::push(
            v,
            &[(a.id, b.v), (b.id, a.v), (c.id, 1.0)],
            Self::q() + (p.abs() + v.abs()) * UNIT_ROUNDOFF,
        )
    }
}

/// The first-order bound on |out - f64| of each of `outs` on the tape:
/// sum over the tape of |d out / d error_i| * error_i.
fn first_order_bounds(tape: &[TapeNode], outs: &[u32]) -> Vec<f64> {
    let mut adj = vec![0.0f64; tape.len()];
    outs.iter()
        .map(|&o| {
            adj.fill(0.0);
            adj[o as usize] = 1.0;
            let mut bound = 0.0;
            for i in (0..=o as usize).rev() {
                let a = adj[i];
                if a == 0.0 {
                    continue;
                }
                let node = &tape[i];
                bound += a.abs() * node.err;
                for &(p, d) in &node.parents[..node.arity as usize] {
                    adj[p as usize] += a * d;
                }
            }
            bound
        })
        .collect()
}

/// `kalman_fit`'s tolerance: over the tracks the verification checks, the
/// worst of each output's first-order error bound ([`Lin`]) plus its f32
/// rounding, over the scale the verification uses (the parameter's sigma
/// from the f64 covariance; 1 + chi2). Refused when a value of the filter
/// comes within a factor 2 of the format's range (it could saturate).
fn kalman_tolerance<S: Scalar>(inputs: &Inputs) -> Result<(Tolerance, String)> {
    let (n, m) = kalman_fit::model_of(&inputs.size)?;
    let (hx, hy) = (inputs.buffers.f32("hx")?, inputs.buffers.f32("hy")?);
    let f32r = 2f64.powi(-24);
    let tracks = kalman_fit::checked_tracks(n, inputs.seed);
    let (worst, largest) = tracks
        .par_iter()
        .map(|&t| {
            TAPE.with(|tape| {
                let mut tape = tape.borrow_mut();
                tape.0.clear();
                tape.1 = 0.0;
            });
            let r = kalman_fit::fit::<Lin<S>>(&m, |l| {
                (
                    <Lin<S> as kalman_fit::Real>::from_f32(hx[l * n + t]),
                    <Lin<S> as kalman_fit::Real>::from_f32(hy[l * n + t]),
                )
            });
            let outs: Vec<u32> = r.params.iter().chain([&r.chi2]).map(|x| x.id).collect();
            let (bounds, largest) = TAPE.with(|tape| {
                let tape = tape.borrow();
                (first_order_bounds(&tape.0, &outs), tape.1)
            });
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
            "rel = max over the {} checked tracks and outputs of (B + |out| 2^-24) / scale, B the first-order bound sum_i |d out / d err_i| err_i over every cast in {fmt} (err <= {:e}), every input's quantisation and the f64 reference's rounding, by reverse-mode differentiation of the filter; scale = sigma of the parameter (f64 covariance) or 1 + chi2; second-order terms neglected; largest |value| {largest:.3e} within the range {max:.3e}; worst at track {}",
            tracks.len(),
            Lin::<S>::q(),
            worst.1
        ),
    ))
}

/// Operations and the ASAP schedule of one run of [`kalman_fit::fit`]:
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

impl kalman_fit::Real for Sched {
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
fn kalman_schedule(m: &kalman_fit::Model, layers: usize, lat: Latency) -> (OpCount, u64) {
    SCHEDULE.with(|c| c.set((OpCount::default(), lat)));
    let m = kalman_fit::Model { layers, ..*m };
    let r = kalman_fit::fit::<Sched>(&m, |_| (Sched(0), Sched(0)));
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
        let f = instance!(fmt, kalman_emulate, EmuFn, [(64, 18)])
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
        let (n, m) = kalman_fit::model_of(&inputs.size)?;
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
        let f = instance!(fmt, kalman_tolerance, TolFn, [(64, 18)])
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
    use crate::kernel::{Param, SizeSpec};
    use crate::kernels::Registry;

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

    fn inputs(kernel: &str, params: &[(&str, i64)]) -> Inputs {
        let reg = Registry::builtin().unwrap();
        let k = reg.get(kernel).unwrap();
        let mut size = k.size("tiny").unwrap();
        for (name, v) in params {
            size.params.insert(name.to_string(), Param::Int(*v));
        }
        k.kernel.generate(&size, 5).unwrap()
    }

    /// Emulates `kernel` on every shipped card: the outputs pass the
    /// format's tolerance with a nonzero error, fail the manifest's float
    /// tolerance where the format is coarser than f32, and a corrupted
    /// output fails.
    fn passes_on_every_card(kernel: &str, adapter: &dyn FpgaKernel, inputs: &Inputs, corrupt: f32) {
        let reg = Registry::builtin().unwrap();
        let k = reg.get(kernel).unwrap();
        for c in card::load(None).unwrap() {
            let (fmt, _) = adapter.format(c.fixed_format().unwrap());
            let mut out = adapter.emulate(inputs, fmt).unwrap();
            let (tol, why) = adapter.tolerance(inputs, &fmt).unwrap();
            let v = k.kernel.verify(inputs, &out, tol).unwrap();
            eprintln!("{kernel} on {}: {tol:?} ({why}): {v:?}", c.id);
            assert!(v.passed, "{kernel} on {}: {v:?}", c.id);
            assert!(v.max_abs_error > 0.0, "fixed point is not exact");
            if fmt.width < 24 {
                let float = k.kernel.verify(inputs, &out, k.manifest.tolerance).unwrap();
                assert!(!float.passed, "{kernel}: {float:?}");
            }
            let design = adapter.design(&c, &fmt, inputs).unwrap();
            let ev = model::evaluate(&c, &fmt, &design);
            assert!(ev.usage.over(&ev.available).is_none(), "{:?}", ev.usage);
            assert!(ev.latency_s > 0.0 && ev.energy_j > 0.0);
            let (_, Buffer::F32(v)) = &mut out.entries[0] else {
                panic!("f32 outputs")
            };
            let last = v.len() - 1;
            v[last] += corrupt;
            assert!(!k.kernel.verify(inputs, &out, tol).unwrap().passed);
        }
    }

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
        let (_, m) = kalman_fit::model_of(&inputs.size).unwrap();
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
            kalman_fit::FLOPS_PER_PLANE
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

    /// gemm n = 1024 on the U250, by hand. Stationary B: R = 114 (DSP
    /// bound) puts the banks in block RAM, one BRAM36 per two banks: 4600
    /// over 2016, then 2300 (R 228), then 1150 at R = 456; rows take 1023 *
    /// 456 + 465 cycles. Tiled: P = 9216 multipliers, t = floor(9216 * 64
    /// / 1024) = 576, 2 tiles of 512 columns; R = ceil(524288 / 9216) = 57
    /// in LUTRAM (9199 multipliers). Per tile: load 524288 values at 54 per
    /// cycle: 9709 + 64 = 9773 cycles; rows 1023 * 57 + (57 + 3 + 4 + 2) =
    /// 58377; two tiles 136300 cycles = 454.3 us (off chip: B, C and A
    /// twice, 16 MiB at 65.45 GB/s = 256 us): compute bound, faster than
    /// stationary (about 486,000 cycles).
    #[test]
    fn gemm_tiles_b_when_it_does_not_fit_by_hand() {
        let c = &card::load(None).unwrap()[0];
        let fmt = c.fixed_format().unwrap();
        let stationary = gemm_stationary(c, &fmt, 1024).unwrap();
        assert_eq!(stationary.reuse_factor, 456);
        let st = model::evaluate(c, &fmt, &stationary);
        assert_eq!(st.compute_cycles, 19_418 + 64 + 1023 * 456 + 465);
        let d = GemmFpga
            .design(c, &fmt, &inputs("gemm", &[("n", 1024)]))
            .unwrap();
        let ev = model::evaluate(c, &fmt, &d);
        assert_eq!(d.reuse_factor, 57);
        assert_eq!(d.stages[0].repeat, 2);
        assert_eq!(d.stages[1].trips, 1024);
        assert_eq!(ev.usage.dsp, 9199.0);
        assert_eq!(ev.compute_cycles, 136_300);
        assert_eq!(ev.bound, "compute");
        assert!((ev.latency_s - 136_300.0 / 300e6).abs() < 1e-15);
        assert_eq!(d.offchip_bytes, 4.0 * 1024.0 * 1024.0 * 4.0);
        assert!(
            d.notes.iter().any(|n| n.contains("2 tiles of 1024 x 512")),
            "{:?}",
            d.notes
        );
        // n = 512 fits stationary at the DSP-bound R = 29: no tiling.
        let small = GemmFpga
            .design(c, &fmt, &inputs("gemm", &[("n", 512)]))
            .unwrap();
        assert_eq!((small.reuse_factor, small.stages[1].repeat), (29, 1));
    }

    #[test]
    fn csd_digits_and_the_fabric_rule() {
        assert_eq!(model::csd_digits(0), 0);
        assert_eq!(model::csd_digits(64), 1);
        assert_eq!(model::csd_digits(-7), 2); // 8 - 1
        assert_eq!(model::csd_digits(5), 2); // 4 + 1
        assert_eq!(model::csd_digits(11), 3); // 16 - 4 - 1
        assert_eq!(model::csd_digits(0b1010_1010), 4);
        assert!(model::in_fabric(-96) && !model::in_fabric(11));
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
        assert_eq!(mlp_jet::MACS_PER_EVENT, 4256);
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
