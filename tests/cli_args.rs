//! A property test of the command line: arbitrary arguments, including
//! bytes that are not UTF-8, hostile URLs and out-of-range numbers, never
//! make hetbench panic or die on a signal, and every exit code is one the
//! README lists. Only commands that read, plan or refuse are drawn (`run`
//! always with `--dry-run`, no `push`), so a case takes milliseconds and the
//! test is bounded by its case count.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use proptest::prelude::*;

const COMMANDS: &[&[&str]] = &[
    &["results"],
    &["export"],
    &["score"],
    &["compare"],
    &["plot"],
    &["info"],
    &["import"],
    &["run", "--dry-run"],
    &["list"],
    &["no-such-command"],
];

const FLAGS: &[&str] = &[
    "--db",
    "--format",
    "-k",
    "-s",
    "-b",
    "-p",
    "--device",
    "--baseline",
    "--weights",
    "--json",
    "--status",
    "--timeout",
    "--seed",
    "--time-budget",
    "--label",
    "--allow-partial",
    "--include-modeled",
    "--out",
    "--suite",
    "--",
];

/// A value: a word from a vocabulary of hostile ones, or raw bytes.
fn value() -> impl Strategy<Value = OsString> {
    let words = prop::sample::select(vec![
        "postgress://u:PW@host/db",
        "mysql://root:pw@h/x",
        "host=127.0.0.1 port=1 password=pw connect_timeout=1",
        "postgres://u:pw@127.0.0.1:1/db?connect_timeout=1",
        "/dev/zero",
        "nan",
        "inf",
        "-1",
        "1e308",
        "0",
        "18446744073709551616",
        "gemm,nbody,,",
        "simulation=2,ml=-1",
        "simulation=nan",
        "=cmd|' /C calc'!A0",
        "\u{1b}[2J",
        "all",
        "csv",
        "",
    ])
    .prop_map(OsString::from);
    // Any bytes but NUL, which no argument of a process can hold.
    let bytes = prop::collection::vec(1u8..=255, 0..12).prop_map(OsString::from_vec);
    prop_oneof![3 => words, 1 => bytes]
}

fn argument() -> impl Strategy<Value = OsString> {
    prop_oneof![
        2 => prop::sample::select(FLAGS.to_vec()).prop_map(OsString::from),
        2 => value(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x4342_4c49),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_argument_makes_hetbench_panic(
        command in prop::sample::select(COMMANDS.to_vec()),
        args in prop::collection::vec(argument(), 0..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("hetbench"))
            .env_remove("HETBENCH_DB")
            .env_remove("HETBENCH_REQUIRE_BACKENDS")
            .env("HETBENCH_PG_CONNECT_TIMEOUT", "2")
            .current_dir(dir.path())
            .arg("--results-dir")
            .arg(dir.path().join("results"))
            .args(command)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        prop_assert!(
            matches!(code, Some(0..=3)),
            "{command:?} {args:?}: exit {:?}\n{stderr}", out.status
        );
        prop_assert!(!stderr.contains("panicked"), "{command:?} {args:?}: {stderr}");
        prop_assert!(!stderr.contains("PW") && !String::from_utf8_lossy(&out.stdout).contains("PW"),
            "{command:?} {args:?}: a password in clear: {stderr}");
    }
}
