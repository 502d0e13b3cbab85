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
//! hls4ml's dense layers do with a wide `accum_t`; one that would need more
//! than 127 bits is an error of the result, not a wrap. `mlp_jet` instead
//! follows hls4ml's own templates and types bit for bit
//! ([`crate::kernels::mlp_jet::hls4ml`]: `accum_t` as hls4ml 1.3.0 declares
//! it, the lookup-table softmax; compared in CI with the templates compiled
//! by g++). Conversions,
//! products, sums, casts and `T(1)/x` reciprocals agree bit for bit with
//! HLS's own `ap_fixed.h` (compared in CI, see [`fixed`]); divisions follow
//! the same rule (`Format::div_raw`) and square roots Vivado HLS's
//! `hls_sqrt.h` (`Format::sqrt_raw`). A kernel whose values
//! the card's format cannot represent runs in its own
//! ([`FpgaKernel::format`](crate::kernel::FpgaKernel::format), with the reason in the report): `kalman_fit`
//! runs in `ap_fixed<64,18>` with the card's modes (in 32 bits its
//! parameters are off by about 1000 sigma; 64 is the narrowest width whose
//! error bound is within 2% of sigma). The emulation is compiled for the
//! formats in [`crate::kernel::fpga::FORMATS`].
//!
//! ## Verification
//! Fixed-point outputs are verified against the kernel's f64 reference
//! with a tolerance derived from the format (each kernel's `FpgaKernel::tolerance`
//! documents its bound, with e the format's quantisation error), not the
//! manifest's floating-point one:
//! - `gemm`: n(2Me + e^2) + e per entry (hard), plus a statistical term for
//!   Freivalds' row checks;
//! - `stream_triad`: e(2 + |s|) + |Q(s) - s| max|c| (hard);
//! - `conv2d`: e(T Mx + Sw) + T e^2 + e over T = cin k^2 taps (hard);
//! - `stencil3d`: (S + 1) e after S steps (hard: the weights are a convex
//!   combination, so carried errors do not grow);
//! - `mlp_jet`: the logit error propagated from every cast (mean bound
//!   plus 8 sigma), then hls4ml's softmax tables by interval arithmetic
//!   (its probabilities come from lookup tables, as on the chip);
//! - `kalman_fit`: a first-order bound, sum over every rounding of |d out /
//!   d err| err, the sensitivities from reverse-mode differentiation of the
//!   filter's own code (a running worst-case bound, which treats the errors
//!   of the covariance and of the gain as independent, diverges after seven
//!   planes; the adjoints keep their correlation), relative to each
//!   parameter's sigma as the verification compares.
//! - `fma_peak`: 16 (a^K e + e_step (1 - a^K)/(1 - a)) per item (hard);
//! - `hough` and `cluster`: exact (tolerance 0; `hough` in
//!   `ap_fixed<32,0,Q,AP_WRAP>`, where every value is exact, `cluster` in
//!   `ap_fixed<36,18,Q,AP_SAT>`, where every decision is the f32 one when
//!   the thresholds are at least 2^(23 - F), checked on the data);
//! - `nbody`: a first-order bound relative to the sum of |terms| plus the
//!   casts' and inputs' absolute errors, in `ap_fixed<56,24>`;
//! - `pic_push`: in `ap_fixed<32,8>`, a first-order bound (absolute) from
//!   reverse-mode differentiation of the push along each checked
//!   trajectory ([`bound`], as `kalman_fit`'s), plus the f32 outputs'
//!   rounding relative to the particle's largest |r| or |v|.
//!
//! The backend's `Prepared::tolerance` hands the tolerance to the runner.
//! The accuracy (max abs and relative error against f64, what the relative
//! error is relative to, the verdict's detail: for `mlp_jet` the fraction
//! of events whose top class agrees with f64) is in the model report
//! ([`crate::kernel::fpga::ModelReport`]) and printed after `hetbench run` and
//! `hetbench results` with the assumptions of each card
//! ([`crate::report::modeled::modeled_text`]).
//!
//! ## Designs
//! - `gemm`: hls4ml's dense layer with B stationary on chip, or, when B's
//!   banks do not fit at the DSP-bound reuse factor, B in column tiles from
//!   off-chip memory with A re-read per tile (the faster design wins);
//! - `stream_triad`: a streaming engine with as many lanes as the bandwidth
//!   feeds;
//! - `mlp_jet`: one [`model::dense_with`] stage per layer (16-64-32-32-5,
//!   weights as constants: at R = 1 multiplies by weights of at most two
//!   signed digits are built in LUTs, [`model::FABRIC_MULT_MAX_DIGITS`],
//!   which puts the hls4ml jet tagger at 3,332 DSPs, II = 1 and 12 cycles at
//!   200 MHz, inside the published ranges);
//! - `conv2d`: a dense engine over im2col rows built on chip from line
//!   buffers (k - 1 rows per input channel), weights stationary;
//! - `stencil3d`: step engines chained on chip (temporal blocking), each
//!   with line buffers of two planes and two rows, as many as the card
//!   holds, the rest as passes through off-chip memory; memory-bound
//!   designs are bounded by the card's bandwidth;
//! - `kalman_fit`: a [`model::streaming_with`] engine over (track, plane)
//!   updates, the tracks interleaved to hide the loop-carried state, with
//!   the operation counts and depth of an ASAP schedule of `fit`'s own code
//!   (135 multiplies, 126 adds and one reciprocal per plane), lanes as many
//!   as the DSPs allow.
//! - `fma_peak`: every usable DSP a multiply-add unit interleaving as many
//!   chains as its step latency (II = 1): the card's DSP ceiling;
//! - `hough`: q/pT columns with block-RAM histograms at II = 1, copied as
//!   the bandwidth feeds hits, passes when the columns do not fit;
//! - `cluster`: raster-scan labelling in bands with equivalence tables,
//!   the bands joined, a relabelling pass;
//! - `nbody`: a pair engine, one body per lane, the bodies broadcast from
//!   on-chip memory, `hls::sqrt` and a divider per lane;
//! - `pic_push`: a streaming push engine, one pass through off-chip memory
//!   per step, a divider per lane for 2 / (1 + t.t).
//!
//! `mc_transport` has no fixed-point path (it says why in its README and
//! skip reason).
//!
//! ## Adding a kernel
//! A kernel gets a fixed-point path in its own module, in two steps:
//! 1. in `src/kernels/<name>.rs`, `pub fn reference_generic<S: crate::fpga::Scalar>(...)`:
//!    its reference written once over `Scalar` (`mul_acc` into the wide
//!    type for dot products, `from_wide` to cast; [`Arith`] where the code
//!    is written with operators), the f64 reference calling it with f64 (or
//!    a test that the two agree bit for bit);
//! 2. in `src/kernels/<name>/fpga.rs` (declared `mod fpga;` in the kernel's
//!    file and listed in its `builtin_kernel!` line), a type implementing
//!    [`FpgaKernel`](crate::kernel::FpgaKernel): `emulate` (quantise
//!    inputs, call `reference_generic` through `fixed_instance!`, return
//!    f32 buffers), `design` (its loops as [`model::Stage`]s from the
//!    building blocks [`model::dense`], [`model::streaming_with`],
//!    [`model::load_stage`], [`model::buffer_blocks`]) and `tolerance`
//!    (derived from the format, the derivation in words), `format` if the
//!    card's format cannot hold the kernel; the kernel's `Kernel::fpga`
//!    returns it.
//!
//! Kernels without an adapter are skipped by the `fpga-emu` backend with
//! the reason.
//!
//! ## Rankings
//! Modeled results never meet measured ones in `score`, `compare`, `plot`
//! or `report` unless the user passes `--include-modeled`
//! ([`crate::store::ResultRecord::is_modeled`]); then their devices are
//! labelled `[MODELED]`.

pub mod bound;
pub mod card;
pub mod fixed;
pub mod model;
pub mod scalar;

pub use card::Card;
pub use fixed::{ApFixed, Format};
pub use model::MODEL_VERSION;
pub use scalar::{Arith, Scalar};
