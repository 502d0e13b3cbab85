//! hetbench's `ap_fixed` emulation against Vitis HLS's own `ap_fixed.h`,
//! bit for bit.
//!
//! `tests/ap_fixed/hls_cases.cpp` is compiled with g++ against the header
//! (the C-simulation model that ships in the hls4ml wheel, the same as
//! Xilinx's open-source copy); it generates conversions from double for
//! every quantisation x overflow mode at 17 widths (ties, edges, huge
//! magnitudes, NaN, infinities, subnormals), products, sums, differences,
//! casts from five other formats, `T(1)/x` reciprocals, dot products and
//! `c + a * b` in an exact accumulator, and prints HLS's result of each.
//! This test recomputes every case with `hetbench::fpga::fixed` and
//! reports each difference.
//!
//! The header's directory comes from `HETBENCH_AP_TYPES` (what
//! `scripts/check-ap-fixed.sh` downloads and prints), the compiler from
//! `CXX` (default `g++`). Without either the test skips with the reason,
//! unless `HETBENCH_REQUIRE_AP_FIXED=1` (CI), where it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hetbench::fpga::fixed::{Format, Wide};

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ap_fixed/hls_cases.cpp");

#[path = "support/hls_headers.rs"]
mod hls_headers;

use hls_headers::fingerprint;

const WHAT: &str = "ap_fixed comparison";

/// Compiles the case generator, reusing a binary built from the same
/// source, header directory and compiler (under target/, keyed by them).
fn generator() -> Option<PathBuf> {
    let dir = hls_headers::ap_types(WHAT)?;
    let cxx = hls_headers::cxx(WHAT)?;
    let source = std::fs::read(SOURCE).expect("the case generator's source");
    let headers: Vec<Vec<u8>> = [
        "ap_fixed.h",
        "ap_fixed_base.h",
        "ap_int_base.h",
        "ap_common.h",
        "etc/ap_private.h",
    ]
    .iter()
    .map(|h| std::fs::read(dir.join(h)).unwrap_or_default())
    .collect();
    let mut inputs: Vec<&[u8]> = vec![&source, cxx.as_bytes()];
    inputs.extend(headers.iter().map(Vec::as_slice));
    let key = fingerprint(&inputs);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ap_fixed_hls");
    std::fs::create_dir_all(&out_dir).expect("target tmp dir");
    let exe = out_dir.join(format!("hls_cases-{key:016x}"));
    if !exe.is_file() {
        compile(
            &cxx,
            &dir,
            &out_dir.join(format!("build-{key:016x}")),
            &exe,
            parts(&source),
        );
    }
    Some(exe)
}

/// `NSIZES` of the generator: how many translation units it is split in.
fn parts(source: &[u8]) -> usize {
    let text = String::from_utf8_lossy(source);
    text.lines()
        .find_map(|l| l.strip_prefix("#define NSIZES "))
        .and_then(|n| n.trim().parse().ok())
        .expect("#define NSIZES in the generator")
}

/// One object per format size, compiled in parallel (the header's
/// templates take most of a minute in one unit), then linked into `exe`.
fn compile(cxx: &str, include: &Path, build: &Path, exe: &Path, parts: usize) {
    std::fs::create_dir_all(build).expect("build dir");
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let units: Vec<Option<usize>> = (0..parts).map(Some).chain([None]).collect();
    let objects: Vec<PathBuf> = units
        .chunks(jobs)
        .flat_map(|chunk| {
            let running: Vec<_> = chunk
                .iter()
                .map(|part| {
                    let obj = build.join(match part {
                        Some(k) => format!("part{k}.o"),
                        None => "main.o".into(),
                    });
                    let mut cmd = Command::new(cxx);
                    cmd.args(["-std=c++14", "-O0", "-w", "-c", "-I"])
                        .arg(include);
                    if let Some(k) = part {
                        cmd.arg(format!("-DPART={k}"));
                    }
                    let child = cmd
                        .arg(SOURCE)
                        .arg("-o")
                        .arg(&obj)
                        .spawn()
                        .expect("run the C++ compiler");
                    (child, obj)
                })
                .collect();
            running.into_iter().map(|(mut child, obj)| {
                let status = child.wait().expect("wait for the C++ compiler");
                assert!(
                    status.success(),
                    "{cxx} failed on {SOURCE} against {}",
                    include.display()
                );
                obj
            })
        })
        .collect();
    let tmp = exe.with_extension("partial");
    let status = Command::new(cxx)
        .args(&objects)
        .arg("-o")
        .arg(&tmp)
        .status()
        .expect("run the linker");
    assert!(status.success(), "{cxx} failed to link the generator");
    std::fs::rename(&tmp, exe).expect("move the linked generator");
}

#[derive(Default)]
struct Tally {
    cases: BTreeMap<&'static str, u64>,
    differences: BTreeMap<&'static str, u64>,
    examples: BTreeMap<&'static str, Vec<String>>,
}

impl Tally {
    fn check(&mut self, kind: &'static str, ok: bool, what: impl FnOnce() -> String) {
        *self.cases.entry(kind).or_default() += 1;
        if !ok {
            *self.differences.entry(kind).or_default() += 1;
            let examples = self.examples.entry(kind).or_default();
            if examples.len() < 4 {
                examples.push(what());
            }
        }
    }
}

fn int<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse()
        .unwrap_or_else(|e| panic!("bad number '{s}': {e:?}"))
}

fn wide(raw: i128, frac: i32) -> Wide {
    Wide { raw, frac }
}

/// `Some(raw)` of `w` assigned to `fmt`, `None` when hetbench refuses an
/// intermediate wider than 127 bits.
fn assign(fmt: &Format, w: Option<Wide>) -> Option<i64> {
    w.map(|w| fmt.quantize(w.raw, w.frac))
}

fn compare(output: &str) -> Tally {
    let mut formats: BTreeMap<u32, Format> = BTreeMap::new();
    let mut sources: BTreeMap<u32, i32> = BTreeMap::new();
    let mut t = Tally::default();
    for line in output.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "G" => {
                sources.insert(int(f[1]), int::<i32>(f[2]) - int::<i32>(f[3]));
                continue;
            }
            "F" => {
                let fmt = Format::parse(&format!("ap_fixed<{},{},{},{}>", f[2], f[3], f[4], f[5]))
                    .unwrap_or_else(|e| panic!("{line}: {e}"));
                formats.insert(int(f[1]), fmt);
                continue;
            }
            _ => {}
        }
        let fmt = formats[&int::<u32>(f[1])];
        let frac = fmt.frac();
        let want: i64 = int(f[f.len() - 1]);
        let show = |got: Option<i64>| format!("{fmt}: {line}: hetbench {got:?}");
        match f[0] {
            "D" => {
                let x = f64::from_bits(u64::from_str_radix(f[2], 16).expect("hex bits"));
                let got = fmt.from_f64(x);
                t.check("conversion from double", got == want, || {
                    format!("{} (x = {x:e})", show(Some(got)))
                });
            }
            "M" | "A" | "B" => {
                let (a, b): (i64, i64) = (int(f[2]), int(f[3]));
                let w = match f[0] {
                    "M" => wide(a as i128 * b as i128, 2 * frac),
                    "A" => wide(a as i128 + b as i128, frac),
                    _ => wide(a as i128 - b as i128, frac),
                };
                let got = assign(&fmt, Some(w));
                let kind = match f[0] {
                    "M" => "product",
                    "A" => "sum",
                    _ => "difference",
                };
                t.check(kind, got == Some(want), || show(got));
            }
            "R" => {
                let got = fmt.recip_raw(int(f[2]));
                t.check("reciprocal T(1)/x", got == want, || show(Some(got)));
            }
            "C" => {
                let hi = u64::from_str_radix(f[3], 16).expect("hex");
                let lo = u64::from_str_radix(f[4], 16).expect("hex");
                let raw = (((hi as u128) << 64) | lo as u128) as i128;
                let got = assign(&fmt, Some(wide(raw, sources[&int::<u32>(f[2])])));
                t.check("cast between formats", got == Some(want), || show(got));
            }
            "P" | "E" => {
                let fits = f[2] == "1";
                let acc = if f[0] == "P" {
                    let k: usize = int(f[3]);
                    (0..k).try_fold(wide(0, 2 * frac), |acc, j| {
                        let (a, b): (i64, i64) = (int(f[4 + 2 * j]), int(f[5 + 2 * j]));
                        acc.checked_plus(wide(a as i128 * b as i128, 2 * frac)).ok()
                    })
                } else {
                    let (c, a, b): (i64, i64, i64) = (int(f[3]), int(f[4]), int(f[5]));
                    wide(c as i128, frac)
                        .checked_plus(wide(a as i128 * b as i128, 2 * frac))
                        .ok()
                };
                let got = assign(&fmt, acc);
                let kind = match (f[0], fits) {
                    ("P", true) => "dot product",
                    ("P", false) => "dot product over 128 bits (hetbench must refuse)",
                    (_, true) => "c + a * b",
                    _ => "c + a * b over 128 bits (hetbench must refuse)",
                };
                // Beyond 127 bits hetbench must refuse, not wrap.
                let ok = if fits {
                    got == Some(want)
                } else {
                    got.is_none()
                };
                t.check(kind, ok, || show(got));
            }
            other => panic!("unknown case kind '{other}' in: {line}"),
        }
    }
    t
}

#[test]
fn ap_fixed_agrees_with_the_hls_header_bit_for_bit() {
    let Some(exe) = generator() else { return };
    let out = Command::new(&exe).output().expect("run the case generator");
    assert!(
        out.status.success(),
        "{} failed: {}",
        exe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let t = compare(&String::from_utf8(out.stdout).expect("ASCII output"));
    let total: u64 = t.cases.values().sum();
    let wrong: u64 = t.differences.values().sum();
    let mut summary = String::new();
    for (kind, n) in &t.cases {
        let d = t.differences.get(kind).copied().unwrap_or(0);
        summary += &format!("{kind}: {n} cases, {d} differ\n");
        for e in t.examples.get(kind).into_iter().flatten() {
            summary += &format!("    {e}\n");
        }
    }
    // The figures, also when it passes (cargo test -- --nocapture).
    eprint!("ap_fixed vs ap_fixed.h:\n{summary}");
    assert!(
        total > 300_000,
        "only {total} cases: the generator's output is incomplete"
    );
    assert_eq!(
        wrong, 0,
        "{wrong} of {total} cases differ from ap_fixed.h:\n{summary}"
    );
}
