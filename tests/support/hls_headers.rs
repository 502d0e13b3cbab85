//! What the comparisons with HLS's own C++ (tests/ap_fixed_hls.rs,
//! tests/hls4ml_jet.rs) share: where the headers are, the compiler, the
//! skip-or-fail rule and the cache key of a compiled program.
//!
//! The headers come from the pinned hls4ml wheel: `HETBENCH_AP_TYPES` is
//! its `templates/vivado/ap_types` (what `scripts/check-ap-fixed.sh
//! --fetch` prints), `nnet_utils` its sibling. The compiler is `CXX`
//! (default `g++`). Without them a comparison skips with the reason,
//! unless `HETBENCH_REQUIRE_AP_FIXED=1` (CI), where it fails.

use std::path::PathBuf;
use std::process::Command;

/// Skips (returns `None`) with the reason, or fails when the comparison is
/// required.
pub fn skip<T>(what: &str, reason: &str) -> Option<T> {
    assert!(
        std::env::var("HETBENCH_REQUIRE_AP_FIXED").as_deref() != Ok("1"),
        "HETBENCH_REQUIRE_AP_FIXED=1 but the {what} cannot run: {reason}"
    );
    eprintln!("{what} skipped: {reason}");
    None
}

/// The `ap_types` directory, checked to hold `ap_fixed.h`.
pub fn ap_types(what: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("HETBENCH_AP_TYPES").map(PathBuf::from) else {
        return skip(
            what,
            "HETBENCH_AP_TYPES is not set (scripts/check-ap-fixed.sh downloads the header and sets it)",
        );
    };
    if !dir.join("ap_fixed.h").is_file() {
        return skip(
            what,
            &format!("no ap_fixed.h in HETBENCH_AP_TYPES={}", dir.display()),
        );
    }
    Some(dir)
}

/// The C++ compiler, checked to start.
pub fn cxx(what: &str) -> Option<String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    if Command::new(&cxx).arg("--version").output().is_err() {
        return skip(
            what,
            &format!("no C++ compiler '{cxx}' (set CXX or install g++)"),
        );
    }
    Some(cxx)
}

/// FNV-1a over the parts.
pub fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}
