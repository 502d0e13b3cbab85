//! Turning results into something to read: tables for the terminal and the
//! exporters (`hetbench export`).

pub mod export;
pub mod table;
