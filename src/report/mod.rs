//! Turning results into something to read: tables for the terminal and the
//! exporters (`hetbench export`), and the decision makers' views: `score`
//! against a reference node, `compare` against a baseline device, plots and
//! a self-contained HTML report.

pub mod compare;
pub mod cost;
pub mod data;
pub mod dry_run;
pub mod economics;
pub mod export;
pub mod hep_suite;
pub mod html;
pub mod modeled;
pub mod node_mix;
pub mod openmetrics;
pub mod plot;
pub mod score;
pub mod stats;
pub mod summary;
pub mod table;
