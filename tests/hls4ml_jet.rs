//! hetbench's FPGA emulation of the jet tagger against hls4ml's own
//! templates, bit for bit.
//!
//! `tests/hls4ml/jet_tagger.cpp` builds the 16-64-32-32-5 network through
//! the `nnet_utils` headers of the pinned hls4ml wheel (dense_latency,
//! relu, softmax_stable, with the layer configs hls4ml's Vivado backend
//! writes) and is compiled with g++ once per type configuration; the
//! configurations are hetbench's own ([`NetConfig`]): hls4ml's plain
//! default for the shipped cards' format and for hls4ml's default
//! `ap_fixed<16,6>`, and two with `accum_t` configured wider. Each runs on
//! the same weights and on generated events (some scaled up so that
//! layers overflow and the softmax's normalised input wraps), and every
//! softmax table entry, logit and probability is compared with
//! [`Network`]'s.
//!
//! Headers and compiler as in tests/ap_fixed_hls.rs: `HETBENCH_AP_TYPES`
//! (nnet_utils is its sibling in the wheel; `scripts/check-ap-fixed.sh`
//! unpacks both), `CXX`; without them the test skips with the reason,
//! unless `HETBENCH_REQUIRE_AP_FIXED=1`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use hetbench::fpga::fixed::Format;
use hetbench::kernels::mlp_jet::hls4ml::{NetConfig, Network};
use hetbench::kernels::mlp_jet::{WEIGHT_COUNT, weights};

#[path = "support/hls_headers.rs"]
mod hls_headers;

const SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hls4ml/jet_tagger.cpp");
const WHAT: &str = "hls4ml jet tagger comparison";
const EVENTS: usize = 3000;

/// The configurations compared: a name, the model's precision and the
/// dense layers' accum_t when the config sets it.
const CONFIGS: [(&str, &str, Option<&str>); 4] = [
    ("card default", "ap_fixed<18,8,AP_RND_CONV,AP_SAT>", None),
    ("hls4ml default", "ap_fixed<16,6>", None),
    ("wide accum_t", "ap_fixed<16,6>", Some("ap_fixed<40,20>")),
    (
        "rounding accum_t",
        "ap_fixed<18,8,AP_RND_CONV,AP_SAT>",
        Some("ap_fixed<24,10,AP_RND,AP_SAT>"),
    ),
];

fn config(model: &str, accum: Option<&str>) -> NetConfig {
    let c = NetConfig::hls4ml_default(Format::parse(model).expect("format"));
    match accum {
        Some(a) => c.with_accum(Format::parse(a).expect("format")),
        None => c,
    }
}

/// The `-D` definitions that give the driver `c`'s types.
fn defines(c: &NetConfig) -> Vec<String> {
    let s = &c.softmax;
    [
        ("MODEL_T", c.model.name()),
        ("ACCUM_T", c.accum.name()),
        ("EXP_TABLE_T", s.exp_table.name()),
        ("INV_TABLE_T", s.inv_table.name()),
        ("INV_INP_T", s.inv_inp.name()),
        ("SM_ACCUM_T", s.accum.name()),
        ("INP_NORM_T", s.inp_norm.name()),
        ("EXP_TABLE_SIZE", s.exp_table_size.to_string()),
        ("INV_TABLE_SIZE", s.inv_table_size.to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("-D{k}={v}"))
    .collect()
}

/// The headers' directories: ap_types and its sibling nnet_utils.
fn headers() -> Option<(PathBuf, PathBuf)> {
    let ap = hls_headers::ap_types(WHAT)?;
    let nnet = ap
        .parent()
        .map(|p| p.join("nnet_utils"))
        .unwrap_or_default();
    if !nnet.join("nnet_dense_latency.h").is_file() {
        return hls_headers::skip(
            WHAT,
            &format!(
                "no nnet_utils beside HETBENCH_AP_TYPES ({} has no nnet_dense_latency.h; scripts/check-ap-fixed.sh --fetch unpacks it)",
                nnet.display()
            ),
        );
    }
    Some((ap, nnet))
}

/// Compiles the driver for each configuration (in parallel), reusing
/// binaries built from the same source, headers, compiler and types.
fn drivers(cxx: &str, ap: &Path, nnet: &Path, configs: &[NetConfig]) -> Vec<PathBuf> {
    let source = std::fs::read(SOURCE).expect("the driver's source");
    let mut header_text = Vec::new();
    for dir in [ap, nnet] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("header directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "h"))
            .collect();
        names.sort();
        for n in names {
            header_text.extend(std::fs::read(n).expect("header"));
        }
    }
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hls4ml_jet");
    std::fs::create_dir_all(&out_dir).expect("target tmp dir");
    let jobs: Vec<(PathBuf, Option<std::process::Child>)> = configs
        .iter()
        .map(|c| {
            let defs = defines(c);
            let key = hls_headers::fingerprint(&[
                &source,
                &header_text,
                cxx.as_bytes(),
                defs.join(" ").as_bytes(),
            ]);
            let exe = out_dir.join(format!("jet_tagger-{key:016x}"));
            if exe.is_file() {
                return (exe, None);
            }
            let child = Command::new(cxx)
                .args(["-std=c++14", "-O2", "-w", "-I"])
                .arg(ap)
                .arg("-I")
                .arg(nnet)
                .args(&defs)
                .arg(SOURCE)
                .arg("-o")
                .arg(exe.with_extension("partial"))
                .spawn()
                .expect("run the C++ compiler");
            (exe, Some(child))
        })
        .collect();
    jobs.into_iter()
        .map(|(exe, child)| {
            if let Some(mut child) = child {
                let status = child.wait().expect("wait for the C++ compiler");
                assert!(status.success(), "{cxx} failed on {SOURCE}");
                std::fs::rename(exe.with_extension("partial"), &exe).expect("move the driver");
            }
            exe
        })
        .collect()
}

/// The events, event by event: the kernel's generated features (seed 7),
/// the last third scaled by 4 or 16 so that layers overflow.
fn events() -> Vec<[f32; 16]> {
    let s = 3f32.sqrt();
    let x = hetbench::rng::uniform_f32(7, 1, 16 * EVENTS, -s, s);
    (0..EVENTS)
        .map(|e| {
            let scale = match e % 6 {
                4 => 4.0,
                5 => 16.0,
                _ => 1.0,
            };
            std::array::from_fn(|f| x[e * 16 + f] * scale)
        })
        .collect()
}

/// The driver's input: the count, the weights as hls4ml's writer prints
/// them, the features (shortest round-trip decimal: strtof reads them back
/// exactly).
fn driver_input(model: &Format, w: &[f32], ev: &[[f32; 16]]) -> String {
    let decimals = model.frac().max(0) as usize;
    let mut s = format!("{}\n", ev.len());
    for v in w {
        write!(s, "{:.*} ", decimals, *v as f64).expect("string");
    }
    s.push('\n');
    for e in ev {
        for v in e {
            write!(s, "{v:e} ").expect("string");
        }
        s.push('\n');
    }
    s
}

/// Runs the driver on `input`, written from another thread so that its
/// output never waits on a full pipe.
fn run(exe: &Path, input: String) -> String {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the driver");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("the driver's output");
    writer
        .join()
        .expect("the writer thread")
        .expect("write the driver's input");
    assert!(out.status.success(), "{} failed", exe.display());
    String::from_utf8(out.stdout).expect("ASCII output")
}

/// Per record kind: cases and differences (with a few examples).
#[derive(Default)]
struct Tally {
    cases: [u64; 4],
    differ: [u64; 4],
    examples: Vec<String>,
}

const KINDS: [&str; 4] = ["exp table", "invert table", "logits", "probabilities"];

impl Tally {
    fn check(&mut self, kind: usize, got: &[i64], want: &[i64], line: &str) {
        self.cases[kind] += 1;
        if got != want {
            self.differ[kind] += 1;
            if self.examples.len() < 6 {
                self.examples.push(format!("{line}: hetbench {got:?}"));
            }
        }
    }
}

/// Compares the driver's output with `net` on `ev`.
fn compare(net: &Network, ev: &[[f32; 16]], output: &str) -> Tally {
    let mut t = Tally::default();
    for line in output.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let nums: Vec<i64> = f[1..]
            .iter()
            .map(|v| v.parse().unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect();
        let i = nums[0] as usize;
        match f[0] {
            "X" => t.check(0, &[net.tables.exp[i]], &nums[1..], line),
            "V" => t.check(1, &[net.tables.inv[i]], &nums[1..], line),
            "Z" | "P" => {
                let x = ev[i].map(|v| net.input_raw(v));
                let z = net.logits(&x);
                if f[0] == "Z" {
                    t.check(2, &z, &nums[1..], line);
                } else {
                    t.check(3, &net.softmax(&z), &nums[1..], line);
                }
            }
            other => panic!("unknown record '{other}' in: {line}"),
        }
    }
    t
}

#[test]
fn jet_tagger_agrees_with_hls4ml_templates_bit_for_bit() {
    let Some((ap, nnet)) = headers() else { return };
    let Some(cxx) = hls_headers::cxx(WHAT) else {
        return;
    };
    let configs: Vec<NetConfig> = CONFIGS.iter().map(|(_, m, a)| config(m, *a)).collect();
    let exes = drivers(&cxx, &ap, &nnet, &configs);
    let w = weights();
    assert_eq!(w.len(), WEIGHT_COUNT);
    let ev = events();
    let mut summary = String::new();
    let mut wrong = 0;
    let mut logits = Vec::new();
    for ((name, ..), (c, exe)) in CONFIGS.iter().zip(configs.iter().zip(&exes)) {
        let net = Network::new(*c, &w).expect("network");
        let t = compare(&net, &ev, &run(exe, driver_input(&c.model, &w, &ev)));
        writeln!(summary, "{name}: {}", c.describe()).expect("string");
        for (k, kind) in KINDS.iter().enumerate() {
            writeln!(
                summary,
                "    {kind}: {} cases, {} differ",
                t.cases[k], t.differ[k]
            )
            .expect("string");
        }
        for e in &t.examples {
            writeln!(summary, "    {e}").expect("string");
        }
        let sizes = [c.softmax.exp_table_size, c.softmax.inv_table_size];
        assert_eq!(
            t.cases,
            [
                sizes[0] as u64,
                sizes[1] as u64,
                EVENTS as u64,
                EVENTS as u64
            ],
            "{name}: incomplete output"
        );
        wrong += t.differ.iter().sum::<u64>();
        logits.push(
            ev.iter()
                .map(|e| net.logits(&e.map(|v| net.input_raw(v))))
                .collect::<Vec<_>>(),
        );
    }
    eprint!(
        "hetbench vs hls4ml {} templates:\n{summary}",
        hetbench::kernels::mlp_jet::hls4ml::HLS4ML_VERSION
    );
    assert_eq!(
        wrong, 0,
        "hetbench differs from hls4ml's templates:\n{summary}"
    );
    // The accumulator matters: in ap_fixed<16,6> hls4ml's default accum_t
    // and a wide one give different logits on most events.
    let differ = (0..EVENTS)
        .filter(|&e| logits[1][e] != logits[2][e])
        .count();
    eprintln!(
        "accum_t ap_fixed<16,6> vs ap_fixed<40,20>: logits differ on {differ} of {EVENTS} events"
    );
    assert!(differ > EVENTS / 2, "{differ}");
}
