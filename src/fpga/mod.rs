//! FPGA emulation: what a kernel would do on a named FPGA, without one.
//!
//! Like an HLS flow, in Rust: the kernel's own reference code runs in
//! arbitrary-precision fixed point ([`fixed::ApFixed`], Vitis HLS
//! `ap_fixed` semantics) through the [`Scalar`] trait, as an HLS
//! C-simulation runs the same C++ with `ap_fixed` types; timing, resources
//! and power come from a documented model of a pipelined design
//! ([`model`]) on a device card ([`card`], TOML in `fpga/cards/`). Nothing
//! is measured: every figure is labelled `modeled`, and host time spent
//! emulating is never reported as FPGA time.
//!
//! ## Number format
//! Each card names the format kernels run in (`format`, shipped cards:
//! `ap_fixed<18,8,AP_RND_CONV,AP_SAT>`: 10 fraction bits, range +-128,
//! enough for `gemm` up to n = 2048 on inputs in [-1, 1]). Products and
//! accumulators are exact ([`fixed::Wide`]) and cast once at the end, as
//! hls4ml's dense layers do with a wide `accum_t`. The emulation is
//! compiled for the formats in [`kernels::FORMATS`].
//!
//! ## Verification
//! Fixed-point outputs are verified against the kernel's f64 reference
//! with a tolerance derived from the format (each adapter's `tolerance`
//! documents its bound, e.g. `gemm`: n(2Me + e^2) + e per entry with e the
//! quantisation error), not the manifest's floating-point one. The
//! backend's `Prepared::tolerance` hands it to the runner. The accuracy
//! (max abs and relative error against f64, and the verdict's detail: for
//! `mlp_jet` the fraction of events whose top class agrees with f64) is in
//! the model report. `mlp_jet`'s bound is statistical (8 sigma of the
//! logit error propagated from the format's quantisation errors; softmax
//! runs on the host in f64, as hls4ml designs often leave it off the chip).
//!
//! ## Adding a kernel
//! A kernel gets a fixed-point path in three steps:
//! 1. in its file, `pub fn reference_generic<S: crate::fpga::Scalar>(...)`:
//!    its reference written once over `Scalar` (`mul_acc` into the wide
//!    type for dot products, `from_wide` to cast);
//! 2. in `src/fpga/kernels.rs`, an adapter implementing [`FpgaKernel`]:
//!    `emulate` (quantise inputs, call `reference_generic` through the
//!    `instance!` macro, return f32 buffers), `design` (its loops as
//!    [`model::Stage`]s from the building blocks [`model::dense`],
//!    [`model::streaming`], [`model::load_stage`]) and `tolerance`;
//! 3. one line in [`kernels::adapter`].
//!
//! Kernels without an adapter are skipped by the `fpga-emu` backend with
//! the reason. `mlp_jet` maps to one [`model::dense_with`] stage per layer
//! (16-64-32-32-5: four, with the reuse factor of the card, weights as
//! constants: at R = 1 multiplies by weights of at most two signed digits
//! are built in LUTs, [`model::FABRIC_MULT_MAX_DIGITS`], which puts the
//! hls4ml jet tagger at 3,332 DSPs, II = 1 and 12 cycles at 200 MHz, inside
//! the published ranges); `conv2d` to a dense engine
//! over im2col rows; `stencil3d` and `kalman_fit` to [`model::streaming`]
//! engines with their multiplies and adds per item.

pub mod card;
pub mod fixed;
pub mod kernels;
pub mod model;
pub mod report;
pub mod scalar;

pub use card::Card;
pub use fixed::{ApFixed, Format};
pub use kernels::FpgaKernel;
pub use model::MODEL_VERSION;
pub use scalar::{Arith, Scalar};
