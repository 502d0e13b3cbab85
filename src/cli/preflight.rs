//! The preflight as the binary shows it: collected before `run` (and by
//! `info`), each piece of advice one line on stderr, and `info`'s section.

use hetbench::platform::preflight::{self, Advice, Preflight, Reading, Roots, Severity};

/// The node's state now, read under the configured sysfs root.
pub fn collect(config: &hetbench::config::Config) -> (Preflight, Roots) {
    let roots = Roots {
        sys: config.power.sysfs_root.clone(),
        ..Roots::default()
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let gpus = hetbench::power::nvml::gpu_states().into();
    (preflight::collect(&roots, cpus, gpus), roots)
}

/// One line: `warning: preflight: ...` or `note: preflight: ...`.
pub fn advice_line(a: &Advice) -> String {
    let level = match a.severity {
        Severity::Warning => "warning",
        Severity::Note => "note",
    };
    format!("{level}: preflight: {}", a.message)
}

/// Prints every piece of advice on stderr, one line each.
pub fn print_advice<'a>(advice: impl IntoIterator<Item = &'a Advice>) {
    for a in advice {
        eprintln!("{}", advice_line(a));
    }
}

fn show<T>(r: &Reading<T>, f: impl Fn(&T) -> String) -> String {
    match r {
        Reading::Value(v) => f(v),
        Reading::Unavailable(why) => format!("unavailable: {why}"),
    }
}

/// The load row: load averages, other processes' CPUs, the top three.
fn load_text(l: &preflight::Load) -> String {
    let top: Vec<String> = l
        .top
        .iter()
        .take(3)
        .map(|b| format!("{} {:.2}", b.name, b.cpus))
        .collect();
    format!(
        "load average {:.2} {:.2} {:.2}; other processes used {:.2} of {} CPUs over {:.1} s{}",
        l.loadavg[0],
        l.loadavg[1],
        l.loadavg[2],
        l.other_cpus,
        l.logical_cpus,
        l.sample_s,
        if top.is_empty() {
            String::new()
        } else {
            format!(" ({})", top.join(", "))
        }
    )
}

/// The GPUs row: each GPU's clocks and power limits, as NVML reports them.
fn gpus_text(g: &[preflight::GpuState]) -> String {
    if g.is_empty() {
        return "NVML found no GPU".into();
    }
    let mhz = |v: Option<u32>| v.map_or("?".into(), |m| m.to_string());
    let w = |v: Option<f64>| v.map_or("?".into(), |w| format!("{w:.0}"));
    g.iter()
        .map(|s| {
            format!(
                "{} {}: {}/{} MHz, power limit {} W (enforced {} W)",
                s.index,
                s.name,
                mhz(s.graphics_mhz),
                mhz(s.max_graphics_mhz),
                w(s.power_limit_w),
                w(s.enforced_power_limit_w)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `preflight` section of `hetbench info`.
pub fn info_text(p: &Preflight) -> String {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let rows: Vec<(&str, String)> = vec![
        ("load", show(&p.load, load_text)),
        (
            "governor",
            show(&p.governor, |g| {
                g.iter()
                    .map(|(name, n)| format!("{name} ({n} CPUs)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        ),
        (
            "turbo",
            show(&p.turbo, |t| {
                format!("{} ({})", if t.enabled { "on" } else { "off" }, t.source)
            }),
        ),
        (
            "smt",
            show(&p.smt_active, |on| if *on { "on" } else { "off" }.into()),
        ),
        ("huge pages", show(&p.transparent_hugepages, |m| m.clone())),
        (
            "numa",
            show(&p.numa, |nodes| {
                nodes
                    .iter()
                    .map(|n| match n.memory_bytes {
                        Some(b) => format!("node{} cpus {} {:.1} GiB", n.id, n.cpus, gib(b)),
                        None => format!("node{} cpus {}", n.id, n.cpus),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            }),
        ),
        (
            "dimms",
            show(&p.memory, |d| {
                format!(
                    "{} of {} slots populated, {:.1} GiB, {} {} MT/s",
                    d.populated,
                    d.slots,
                    gib(d.total_bytes),
                    d.types.join("/"),
                    d.speeds_mts
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join("/")
                )
            }),
        ),
        ("gpus", show(&p.gpus, |g| gpus_text(g))),
        (
            "throttling",
            show(&p.throttle_start, |t| {
                format!(
                    "thermal events {}, mean frequency {}",
                    t.thermal_events.map_or("unknown".into(), |n| n.to_string()),
                    t.mean_freq_mhz
                        .map_or("unknown".into(), |f| format!("{f:.0} MHz"))
                )
            }),
        ),
    ];
    let mut s = String::from("\npreflight\n");
    for (name, text) in rows {
        s.push_str(&format!("  {name:<11} {text}\n"));
    }
    for a in &p.advice {
        s.push_str(&format!("  {}\n", advice_line(a)));
    }
    s
}
