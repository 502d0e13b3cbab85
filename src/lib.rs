//! hetbench: a heterogeneous-hardware benchmark harness.
//!
//! The library holds everything but argument parsing: the kernel contract
//! ([`kernel`]) and the catalogue of kernels ([`kernels`]), the FPGA
//! emulation toolkit ([`fpga`]), the backends that run kernels on devices ([`backends`]), the
//! measurement engine ([`measure`]), the node fingerprint ([`platform`]), the
//! results database and run files ([`store`]), the exporters ([`report`]) and
//! the plan of a run ([`plan`]) and its orchestration ([`runner`]). The binary (`src/main.rs`,
//! `src/cli.rs`) only parses arguments, calls into here and maps errors to exit
//! codes.

pub mod backends;
pub mod config;
pub mod error;
pub mod fpga;
pub mod input;
pub mod kernel;
pub mod kernels;
pub mod measure;
pub mod plan;
pub mod platform;
pub mod power;
pub mod process;
pub mod report;
pub mod rng;
pub mod runner;
pub mod store;

/// Version of this harness, stored with every result.
pub const HARNESS_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the kernel suite. Results of different suite versions are not
/// comparable (scores refuse to mix them); bump it when a kernel's definition,
/// sizes or work model change. 0.2: mc_transport 2.0.0 (Klein-Nishina
/// sampling as Geant4's, uniforms that stay below 1). 0.3: cluster 1.1.0
/// (`large` is 4096 x 8192 cells, was 8192 x 8192); GPU kernels rebuilt
/// (same outputs, other designs). 0.4: the stencil3d, hough, mc_transport
/// and cluster GPU kernels rebuilt (shared-memory tile, four q rows per
/// workgroup, persistent photons, union-find in tiles; same outputs);
/// gemm and nbody gained the optional `xlarge` size.
pub const SUITE_VERSION: &str = "0.4";
