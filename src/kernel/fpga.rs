//! The optional FPGA capability of a kernel: how it runs bit-accurately in
//! fixed point, what pipelined design stands for it and the tolerance its
//! fixed-point outputs are verified with ([`FpgaKernel`]), and the helpers
//! its implementation uses. A kernel that has one returns it from
//! [`Kernel::fpga`](crate::kernel::Kernel::fpga) and keeps it in its own
//! module (`src/kernels/<name>/fpga.rs`), next to the private shape and
//! constants it needs; the emulation toolkit (formats, `Scalar`, the design
//! model, cards) is in [`crate::fpga`], which knows nothing of kernels.
//! [`ModelReport`] is what the `fpga-emu` backend records of one modeled
//! result (`ResultRecord::model`); `report::modeled` renders it.

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fpga::card::Card;
use crate::fpga::fixed::Format;
use crate::fpga::model::{Design, Evaluation};
use crate::fpga::scalar::Scalar;
use crate::kernel::buffer::{Buffers, Inputs};
use crate::kernel::manifest::Tolerance;

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

/// The formats the emulation is compiled for (each a monomorphised
/// `ApFixed`, [`fixed_instance!`]): the card formats of the kernels that
/// run in the card's (gemm, stream_triad, conv2d, stencil3d, fma_peak),
/// and the one format of each kernel that picks its own
/// ([`FpgaKernel::format`]), each with TRN/RND/RND_CONV and WRAP/SAT.
/// `mlp_jet` is not listed: it computes hls4ml's types at run time, in
/// any valid format.
pub const FORMATS: &str = "ap_fixed<16,6>, <18,8>, <24,12>, <32,16> with AP_TRN, AP_RND or AP_RND_CONV and AP_WRAP or AP_SAT; kernels in their own format, with those modes: kalman_fit ap_fixed<64,18>, nbody <56,24>, cluster <36,18>, pic_push <32,8>, hough <32,0>; mlp_jet runs in any format";

/// Picks the monomorphised instance of generic fn `$f` for format `$fmt`,
/// one `ApFixed` per listed (width, integer) pair and per supported mode;
/// `None` for a format that is not compiled in.
macro_rules! fixed_instance {
    ($fmt:expr, $f:ident, $ty:ty, [$(($w:literal, $i:literal)),*]) => {{
        use $crate::fpga::fixed::{o, q, ApFixed};
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
    }};
}

pub(crate) use fixed_instance;

/// A monomorphised emulation: one `ApFixed` instance of a kernel.
pub type EmuFn = fn(&Inputs) -> Result<Buffers>;

pub fn unsupported_format(fmt: &Format) -> Error {
    Error::Unsupported {
        backend: "fpga-emu".into(),
        message: format!("format {fmt} is not compiled in; supported: {FORMATS}"),
    }
}

pub fn quantize<S: Scalar>(v: &[f32]) -> Vec<S> {
    v.par_iter().map(|&x| S::from_f64(x as f64)).collect()
}

pub fn to_f32<S: Scalar>(v: &[S]) -> Vec<f32> {
    v.par_iter().map(|x| x.to_f64() as f32).collect()
}

/// Largest |value| of the inputs after quantisation to `fmt`.
pub fn max_abs(fmt: &Format, v: &[f32]) -> f64 {
    v.par_iter()
        .map(|&x| fmt.to_f64(fmt.from_f64(x as f64)).abs())
        .reduce(|| 0.0, f64::max)
}

/// Largest |value| of the inputs as given (before quantisation).
pub fn max_abs_raw(v: &[f32]) -> f64 {
    v.par_iter()
        .map(|&x| (x as f64).abs())
        .reduce(|| 0.0, f64::max)
}

/// Outputs are f32 buffers: exact for W <= 24, else rounded once more.
pub fn f32_rel(fmt: &Format) -> f64 {
    if fmt.width <= 24 { 0.0 } else { 2f64.powi(-24) }
}

/// The fixed-point outputs against the f64 reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub against: String,
    pub max_abs_error: f64,
    pub max_rel_error: f64,
    /// What `max_rel_error` is relative to.
    pub rel_error_of: String,
    pub checked: u64,
    pub within_tolerance: bool,
    /// Where the worst error is, in words.
    pub detail: String,
    /// For a classifier (`mlp_jet`), the fraction of items whose top class
    /// agrees with the f64 reference ([`crate::kernel::Verdict::agreement`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_class_agreement: Option<f64>,
    pub tolerance: Tolerance,
    pub tolerance_derivation: String,
}

/// Everything the FPGA emulation reports for one result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    #[serde(flatten)]
    pub evaluation: Evaluation,
    /// The card's own format, where the kernel runs in another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_format: Option<String>,
    pub accuracy: Accuracy,
    pub energy_per_item_j: f64,
    pub item_unit: String,
    /// Host seconds the bit-accurate emulation took (never FPGA time).
    pub emulation_s: f64,
    pub timing: String,
}
