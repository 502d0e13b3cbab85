//! Property tests of the parsers that read files users and other nodes hand
//! us: kernel manifests, JSON run files and the config file. Each starts
//! from a valid file of `tests/corpus/` and mutates it (truncation, byte
//! replacement, line insertion); the parser must never panic, and every
//! refusal must name the file it refused.

use std::path::Path;

use hetbench::config::Config;
use hetbench::kernel::KernelManifest;
use hetbench::store::json;
use proptest::prelude::*;

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(name),
    )
    .unwrap()
}

/// A mutation of `text`: one of truncate, overwrite a span, insert a line.
fn mutate(text: &str, kind: u8, at: usize, len: usize, junk: &str) -> String {
    let b = text.as_bytes();
    let at = at % (b.len() + 1);
    let end = (at + len).min(b.len());
    let bytes: Vec<u8> = match kind % 3 {
        0 => b[..at].to_vec(),
        1 => [&b[..at], junk.as_bytes(), &b[end..]].concat(),
        _ => {
            let line = text[..text.floor_char_boundary(at)]
                .rfind('\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            [&b[..line], junk.as_bytes(), b"\n", &b[line..]].concat()
        }
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,24}",
        Just("\"".to_string()),
        Just("[sizes.small]".to_string()),
        Just("n = -1".to_string()),
        Just("n = 1e400".to_string()),
        Just("{}".to_string()),
        Just("\"schema_version\": 2,".to_string()),
        Just("null".to_string()),
        Just("\u{0}\u{7f}é".to_string()),
    ]
}

#[test]
fn the_corpus_parses() {
    KernelManifest::parse(&corpus("kernel.toml"), "kernel.toml").unwrap();
    json::parse(&corpus("run.json"), Path::new("run.json")).unwrap();
    Config::parse(&corpus("config.toml"), "config.toml").unwrap();
}

proptest! {
    // A fixed seed keeps CI deterministic; change it locally to explore.
    #![proptest_config(ProptestConfig {
        cases: 300,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4854_4245),
        ..ProptestConfig::default()
    })]

    #[test]
    fn manifest_parser_never_panics(kind in 0u8..3, at in 0usize..700, len in 0usize..40, junk in junk()) {
        let text = mutate(&corpus("kernel.toml"), kind, at, len, &junk);
        if let Err(e) = KernelManifest::parse(&text, "k/kernel.toml") {
            prop_assert!(e.to_string().starts_with("k/kernel.toml"), "{}", e);
        }
    }

    #[test]
    fn run_file_parser_never_panics(kind in 0u8..3, at in 0usize..6400, len in 0usize..40, junk in junk()) {
        let text = mutate(&corpus("run.json"), kind, at, len, &junk);
        if let Err(e) = json::parse(&text, Path::new("node7/run.json")) {
            prop_assert!(e.to_string().starts_with("node7/run.json: "), "{}", e);
        }
    }

    #[test]
    fn config_parser_never_panics(kind in 0u8..3, at in 0usize..160, len in 0usize..20, junk in junk()) {
        let text = mutate(&corpus("config.toml"), kind, at, len, &junk);
        if let Err(e) = Config::parse(&text, "site.toml") {
            prop_assert!(e.to_string().starts_with("site.toml"), "{}", e);
        }
    }
}
