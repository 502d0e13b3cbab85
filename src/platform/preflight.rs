//! Preflight: the state of the node that distorts what a run measures.
//!
//! A benchmark on a node where another process keeps the CPUs busy, or
//! where the governor lets the clock sag, stores figures that look like any
//! other and are not comparable (issue 19: 22 of 36 results with a CV above
//! 10% on a busy node). So before a run the node's state is read and stored
//! with the fingerprint, every reading that cannot be had says why, and the
//! readings that distort results come with advice ([`Advice`]): other load
//! (load average and the CPU time of other processes over a short sample),
//! CPU governor, turbo/boost, SMT, transparent huge pages, NUMA layout,
//! memory and DIMM population (`dmidecode`, root only), GPU clocks and
//! power limits (given by the caller: NVML lives in `power`, which imports
//! this module), and frequency throttling during the run (thermal-throttle
//! counts and the mean current frequency, before and after).
//!
//! The parsers are pure functions of the text of `/proc` and `/sys` files;
//! [`collect`] reads them under [`Roots`] (tests point them at fake trees).
//! None of this is part of the platform hash: it describes the node's
//! state, not what the node is.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A reading, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading<T> {
    Value(T),
    Unavailable(String),
}

impl<T> Reading<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Reading::Value(v) => Some(v),
            Reading::Unavailable(_) => None,
        }
    }
}

impl<T> From<Result<T, String>> for Reading<T> {
    fn from(r: Result<T, String>) -> Self {
        match r {
            Ok(v) => Reading::Value(v),
            Err(why) => Reading::Unavailable(why),
        }
    }
}

/// Other load on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// `/proc/loadavg`: 1, 5 and 15 minute load averages.
    pub loadavg: [f64; 3],
    /// The sample's length, seconds.
    pub sample_s: f64,
    /// CPUs' worth of time other processes used over the sample.
    pub other_cpus: f64,
    pub logical_cpus: usize,
    /// The busiest other processes, busiest first (at most five).
    pub top: Vec<BusyProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusyProcess {
    pub pid: u32,
    pub name: String,
    /// CPUs' worth of time over the sample.
    pub cpus: f64,
}

/// Turbo/boost and where it was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turbo {
    pub enabled: bool,
    pub source: String,
}

/// One NUMA node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumaNode {
    pub id: u32,
    /// Its CPUs, as `cpulist` writes them (`0-15,32-47`).
    pub cpus: String,
    pub memory_bytes: Option<u64>,
}

/// DIMM population from `dmidecode -t memory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dimms {
    pub slots: usize,
    pub populated: usize,
    pub total_bytes: u64,
    /// Distinct memory types (`DDR4`) and configured speeds (MT/s).
    pub types: Vec<String>,
    pub speeds_mts: Vec<u32>,
}

/// One GPU's clocks and power limits (NVML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    pub index: u32,
    pub name: String,
    pub graphics_mhz: Option<u32>,
    pub max_graphics_mhz: Option<u32>,
    pub power_limit_w: Option<f64>,
    pub enforced_power_limit_w: Option<f64>,
}

/// Frequency-throttling counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThrottleSnapshot {
    /// Sum of `thermal_throttle/{core,package}_throttle_count` over CPUs.
    pub thermal_events: Option<u64>,
    /// Mean `cpufreq/scaling_cur_freq` over CPUs, MHz.
    pub mean_freq_mhz: Option<f64>,
}

/// What changed between the start and the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throttling {
    pub thermal_events_during: Option<u64>,
    pub freq_start_mhz: Option<f64>,
    pub freq_end_mhz: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdviceKind {
    BusyNode,
    Governor,
    Turbo,
    Smt,
    HugePages,
    Numa,
    Memory,
    Throttling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Distorts results: shown as `warning:`.
    Warning,
    /// Worth knowing when comparing nodes: shown as `note:`.
    Note,
}

/// A reading that distorts results, with what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    pub kind: AdviceKind,
    pub severity: Severity,
    pub message: String,
}

/// Where `/proc` and `/sys` are.
#[derive(Debug, Clone, PartialEq)]
pub struct Roots {
    pub proc: PathBuf,
    pub sys: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        }
    }
}

/// The node's state before a run (and its throttling after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    pub load: Reading<Load>,
    /// Governor name -> number of CPUs with it.
    pub governor: Reading<BTreeMap<String, usize>>,
    pub turbo: Reading<Turbo>,
    pub smt_active: Reading<bool>,
    /// The selected mode of `transparent_hugepage/enabled`.
    pub transparent_hugepages: Reading<String>,
    pub numa: Reading<Vec<NumaNode>>,
    pub memory: Reading<Dimms>,
    pub gpus: Reading<Vec<GpuState>>,
    pub throttle_start: Reading<ThrottleSnapshot>,
    /// Recorded at the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling: Option<Reading<Throttling>>,
    pub advice: Vec<Advice>,
    /// The preflights of a resumed run's earlier sessions, oldest first:
    /// the results of each session were measured under its own node
    /// state, and this one is the latest session's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_sessions: Vec<Preflight>,
}

/// Other processes busy on more than this many CPUs make the node busy:
/// a quarter of its CPUs, at least half a CPU. N threads spinning on N
/// CPUs always pass it.
pub fn busy_threshold(logical_cpus: usize) -> f64 {
    (0.25 * logical_cpus as f64).max(0.5)
}

/// How long other processes' CPU time is sampled.
pub const LOAD_SAMPLE: Duration = Duration::from_millis(400);

/// How long `dmidecode` may take.
const DMIDECODE_TIMEOUT: Duration = Duration::from_secs(5);

impl Preflight {
    /// Whether other processes keep the node busy.
    pub fn busy(&self) -> bool {
        self.advice.iter().any(|a| a.kind == AdviceKind::BusyNode)
    }

    /// This preflight as the latest session of a run that `earlier`
    /// (its stored preflight, if any) began: the earlier sessions are
    /// kept, oldest first.
    pub fn resuming(mut self, earlier: Option<Preflight>) -> Preflight {
        if let Some(mut e) = earlier {
            self.earlier_sessions = std::mem::take(&mut e.earlier_sessions);
            self.earlier_sessions.push(e);
        }
        self
    }

    /// Reads the throttling counters again and records what changed since
    /// the start; a drop in frequency or new thermal events adds advice.
    pub fn finish(&mut self, roots: &Roots) {
        let end = throttle_snapshot(&roots.sys);
        let change = match (&self.throttle_start, end) {
            (Reading::Value(start), Ok(end)) => Ok(Throttling {
                thermal_events_during: start
                    .thermal_events
                    .zip(end.thermal_events)
                    .map(|(a, b)| b.saturating_sub(a)),
                freq_start_mhz: start.mean_freq_mhz,
                freq_end_mhz: end.mean_freq_mhz,
            }),
            (Reading::Unavailable(why), _) => Err(why.clone()),
            (_, Err(why)) => Err(why),
        };
        if let Ok(t) = &change
            && let Some(a) = throttling_advice(t)
        {
            self.advice.push(a);
        }
        self.throttling = Some(change.into());
    }
}

/// Collects the preflight; `gpus` comes from the caller (NVML).
pub fn collect(roots: &Roots, logical_cpus: usize, gpus: Reading<Vec<GpuState>>) -> Preflight {
    let load: Reading<Load> = sample_load(&roots.proc, logical_cpus, LOAD_SAMPLE).into();
    let governor: Reading<_> = governors(&roots.sys).into();
    let turbo: Reading<_> = turbo(&roots.sys).into();
    let smt_active: Reading<_> = read_sys(&roots.sys, "devices/system/cpu/smt/active")
        .and_then(|t| parse_flag(&t))
        .into();
    let transparent_hugepages: Reading<_> =
        read_sys(&roots.sys, "kernel/mm/transparent_hugepage/enabled")
            .and_then(|t| parse_selected(&t))
            .into();
    let numa: Reading<_> = numa_nodes(&roots.sys).into();
    let memory: Reading<_> = dmidecode_memory().into();
    let throttle_start: Reading<_> = throttle_snapshot(&roots.sys).into();
    let mut p = Preflight {
        load,
        governor,
        turbo,
        smt_active,
        transparent_hugepages,
        numa,
        memory,
        gpus,
        throttle_start,
        throttling: None,
        advice: Vec::new(),
        earlier_sessions: Vec::new(),
    };
    p.advice = advise(&p);
    p
}

fn advice(kind: AdviceKind, severity: Severity, message: String) -> Advice {
    Advice {
        kind,
        severity,
        message,
    }
}

/// The advice the readings call for.
pub fn advise(p: &Preflight) -> Vec<Advice> {
    let mut out = Vec::new();
    if let Some(load) = p.load.value()
        && load.other_cpus > busy_threshold(load.logical_cpus)
    {
        let top: Vec<String> = load
            .top
            .iter()
            .take(3)
            .map(|b| format!("{} (pid {}) {:.1}", b.name, b.pid, b.cpus))
            .collect();
        out.push(advice(
            AdviceKind::BusyNode,
            Severity::Warning,
            format!(
                "busy node: other processes used {:.1} of {} CPUs over {:.1} s (load average {:.2}; busiest: {}): results would be contended; stop them or measure on an idle node (`run --strict` refuses)",
                load.other_cpus,
                load.logical_cpus,
                load.sample_s,
                load.loadavg[0],
                if top.is_empty() { "none".into() } else { top.join(", ") }
            ),
        ));
    }
    if let Some(g) = p.governor.value() {
        let other: Vec<String> = g
            .iter()
            .filter(|(name, _)| name.as_str() != "performance")
            .map(|(name, n)| format!("'{name}' on {n} CPU(s)"))
            .collect();
        if !other.is_empty() {
            out.push(advice(
                AdviceKind::Governor,
                Severity::Warning,
                format!(
                    "CPU governor {}: clocks follow the load and figures vary; set 'performance' (`cpupower frequency-set -g performance`)",
                    other.join(", ")
                ),
            ));
        }
    }
    if let Some(t) = p.turbo.value() {
        let text = if t.enabled {
            "turbo/boost is on: clocks depend on temperature and on how many cores are busy; compare with nodes of the same setting"
        } else {
            "turbo/boost is off: figures are below what the node reaches with it on; compare with nodes of the same setting"
        };
        out.push(advice(
            AdviceKind::Turbo,
            Severity::Note,
            format!("{text} ({})", t.source),
        ));
    }
    if p.smt_active.value() == Some(&true) {
        out.push(advice(
            AdviceKind::Smt,
            Severity::Note,
            "SMT is on: the CPU backend's threads share cores two by two; per-core figures are not per physical core".into(),
        ));
    }
    if let Some(mode) = p.transparent_hugepages.value()
        && mode != "madvise"
    {
        out.push(advice(
            AdviceKind::HugePages,
            Severity::Note,
            format!(
                "transparent huge pages are '{mode}' (the usual setting is 'madvise'): memory-bound figures depend on it; compare with nodes of the same setting"
            ),
        ));
    }
    if let Some(nodes) = p.numa.value()
        && nodes.len() > 1
    {
        out.push(advice(
            AdviceKind::Numa,
            Severity::Note,
            format!(
                "{} NUMA nodes: the CPU backend spans them; for per-socket figures pin the run (`numactl --cpunodebind=0 --membind=0 hetbench run ...`)",
                nodes.len()
            ),
        ));
    }
    if let Some(d) = p.memory.value()
        && d.populated < d.slots
    {
        out.push(advice(
            AdviceKind::Memory,
            Severity::Note,
            format!(
                "{} of {} DIMM slots populated: memory bandwidth may be below what the platform reaches fully populated",
                d.populated, d.slots
            ),
        ));
    }
    out
}

/// Advice when the run throttled: new thermal events, or the mean
/// frequency fell by more than 10%.
pub fn throttling_advice(t: &Throttling) -> Option<Advice> {
    let events = t.thermal_events_during.filter(|&n| n > 0);
    let fell = match (t.freq_start_mhz, t.freq_end_mhz) {
        (Some(a), Some(b)) if a > 0.0 && b < 0.9 * a => Some((a, b)),
        _ => None,
    };
    if events.is_none() && fell.is_none() {
        return None;
    }
    let mut parts = Vec::new();
    if let Some(n) = events {
        parts.push(format!("{n} thermal throttle event(s)"));
    }
    if let Some((a, b)) = fell {
        parts.push(format!("mean CPU frequency {a:.0} -> {b:.0} MHz"));
    }
    Some(advice(
        AdviceKind::Throttling,
        Severity::Warning,
        format!(
            "the CPUs throttled during the run ({}): figures are below the node's sustained ones; check cooling and power capping",
            parts.join(", ")
        ),
    ))
}

fn read_sys(root: &Path, rel: &str) -> Result<String, String> {
    let path = root.join(rel);
    std::fs::read_to_string(&path).map_err(|e| format!("{} not readable: {e}", path.display()))
}

/// `1`/`0` (or `on`/`off`).
pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "on" => Ok(true),
        "0" | "off" | "forceoff" | "notsupported" | "notimplemented" => Ok(false),
        other => Err(format!("'{other}' is not 0 or 1")),
    }
}

/// The bracketed choice of a sysfs multiple-choice file:
/// `always [madvise] never` -> `madvise`.
pub fn parse_selected(text: &str) -> Result<String, String> {
    let start = text.find('[');
    let end = text.find(']');
    match (start, end) {
        (Some(s), Some(e)) if s < e => Ok(text[s + 1..e].to_string()),
        _ => Err(format!("no [selected] value in '{}'", text.trim())),
    }
}

/// `/proc/loadavg`: `0.52 0.58 0.59 2/345 12345`.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .map(|w| w.parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("/proc/loadavg does not parse ({e}): '{}'", text.trim()))?;
    match v.as_slice() {
        [a, b, c] => Ok([*a, *b, *c]),
        _ => Err(format!(
            "/proc/loadavg has fewer than 3 figures: '{}'",
            text.trim()
        )),
    }
}

/// `/proc/<pid>/stat`: the command name and user + system time in clock
/// ticks. The name is in parentheses and may hold spaces and parentheses.
pub fn parse_pid_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    // After ") ": state(3) ppid(4) ... utime(14) stime(15).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn process_times(proc_root: &Path, skip: u32) -> Result<HashMap<u32, (String, u64)>, String> {
    let dir = std::fs::read_dir(proc_root)
        .map_err(|e| format!("{} not readable: {e}", proc_root.display()))?;
    let mut out = HashMap::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == skip {
            continue;
        }
        // A process that exits meanwhile is simply not counted.
        if let Ok(text) = std::fs::read_to_string(entry.path().join("stat"))
            && let Some(t) = parse_pid_stat(&text)
        {
            out.insert(pid, t);
        }
    }
    Ok(out)
}

/// CPU time of each process between two samples, in CPUs' worth over
/// `seconds`, busiest first; processes not in both samples (or renamed)
/// are left out.
pub fn busy_processes(
    before: &HashMap<u32, (String, u64)>,
    after: &HashMap<u32, (String, u64)>,
    ticks_per_s: f64,
    seconds: f64,
) -> Vec<BusyProcess> {
    let mut v: Vec<BusyProcess> = after
        .iter()
        .filter_map(|(pid, (name, t1))| {
            let (n0, t0) = before.get(pid)?;
            (n0 == name && t1 > t0).then(|| BusyProcess {
                pid: *pid,
                name: name.clone(),
                cpus: (t1 - t0) as f64 / ticks_per_s / seconds,
            })
        })
        .collect();
    v.sort_by(|a, b| b.cpus.total_cmp(&a.cpus).then(a.pid.cmp(&b.pid)));
    v
}

fn sample_load(proc_root: &Path, logical_cpus: usize, sample: Duration) -> Result<Load, String> {
    let loadavg = std::fs::read_to_string(proc_root.join("loadavg"))
        .map_err(|e| format!("{}/loadavg not readable: {e}", proc_root.display()))
        .and_then(|t| parse_loadavg(&t))?;
    // SAFETY: sysconf reads a constant of the system; it touches no memory.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return Err("the clock tick rate (sysconf _SC_CLK_TCK) is unknown".into());
    }
    let me = std::process::id();
    let before = process_times(proc_root, me)?;
    let t0 = Instant::now();
    std::thread::sleep(sample);
    let after = process_times(proc_root, me)?;
    let seconds = t0.elapsed().as_secs_f64();
    let busy = busy_processes(&before, &after, ticks as f64, seconds);
    Ok(Load {
        loadavg,
        sample_s: seconds,
        other_cpus: busy.iter().map(|b| b.cpus).sum(),
        logical_cpus,
        top: busy.into_iter().take(5).collect(),
    })
}

/// The `cpuN` directories under `devices/system/cpu`, in order.
fn cpu_dirs(sys: &Path) -> Result<Vec<PathBuf>, String> {
    let base = sys.join("devices/system/cpu");
    let dir =
        std::fs::read_dir(&base).map_err(|e| format!("{} not readable: {e}", base.display()))?;
    let mut v: Vec<(u32, PathBuf)> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let n = name.strip_prefix("cpu")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    Ok(v.into_iter().map(|(_, p)| p).collect())
}

fn no_cpufreq(sys: &Path) -> String {
    format!(
        "no cpufreq in {}/devices/system/cpu/cpu*/cpufreq (no frequency-scaling driver: a virtual machine, or the driver is not loaded)",
        sys.display()
    )
}

fn governors(sys: &Path) -> Result<BTreeMap<String, usize>, String> {
    let mut out = BTreeMap::new();
    for cpu in cpu_dirs(sys)? {
        if let Ok(g) = std::fs::read_to_string(cpu.join("cpufreq/scaling_governor")) {
            *out.entry(g.trim().to_string()).or_insert(0) += 1;
        }
    }
    if out.is_empty() {
        return Err(no_cpufreq(sys));
    }
    Ok(out)
}

fn turbo(sys: &Path) -> Result<Turbo, String> {
    let no_turbo = "devices/system/cpu/intel_pstate/no_turbo";
    if let Ok(t) = read_sys(sys, no_turbo) {
        return Ok(Turbo {
            enabled: !parse_flag(&t)?,
            source: format!("intel_pstate/no_turbo = {}", t.trim()),
        });
    }
    let boost = "devices/system/cpu/cpufreq/boost";
    if let Ok(t) = read_sys(sys, boost) {
        return Ok(Turbo {
            enabled: parse_flag(&t)?,
            source: format!("cpufreq/boost = {}", t.trim()),
        });
    }
    Err(format!(
        "neither {0}/{no_turbo} nor {0}/{boost} exists (no intel_pstate or boost-capable cpufreq driver)",
        sys.display()
    ))
}

/// A node's `meminfo`: `Node 0 MemTotal:       32768000 kB`.
pub fn parse_node_meminfo(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (_, rest) = l.split_once("MemTotal:")?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

fn numa_nodes(sys: &Path) -> Result<Vec<NumaNode>, String> {
    let base = sys.join("devices/system/node");
    let dir = std::fs::read_dir(&base).map_err(|e| {
        format!(
            "{} not readable ({e}): a kernel without NUMA support",
            base.display()
        )
    })?;
    let mut nodes: Vec<NumaNode> = dir
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.strip_prefix("node")?.parse().ok()?;
            let path = e.path();
            let cpus = std::fs::read_to_string(path.join("cpulist"))
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            let memory_bytes = std::fs::read_to_string(path.join("meminfo"))
                .ok()
                .and_then(|t| parse_node_meminfo(&t));
            Some(NumaNode {
                id,
                cpus,
                memory_bytes,
            })
        })
        .collect();
    nodes.sort_by_key(|n| n.id);
    if nodes.is_empty() {
        return Err(format!("no node* directories in {}", base.display()));
    }
    Ok(nodes)
}

/// A DIMM size as dmidecode writes it (`16 GB`, `16384 MB`); `None` for
/// an empty slot (`No Module Installed`) or an unknown size.
pub fn parse_dimm_size(text: &str) -> Option<u64> {
    let mut w = text.split_whitespace();
    let n: u64 = w.next()?.parse().ok()?;
    let unit = match w.next()? {
        "bytes" => 1,
        "kB" | "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    Some(n * unit)
}

/// The memory devices of `dmidecode -t memory`.
pub fn parse_dmidecode(text: &str) -> Result<Dimms, String> {
    let mut d = Dimms {
        slots: 0,
        populated: 0,
        total_bytes: 0,
        types: Vec::new(),
        speeds_mts: Vec::new(),
    };
    let mut in_device = false;
    let mut populated = false;
    for line in text.lines() {
        let t = line.trim();
        if line.starts_with("Handle ") {
            in_device = false;
            continue;
        }
        if t == "Memory Device" {
            in_device = true;
            populated = false;
            d.slots += 1;
            continue;
        }
        if !in_device {
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Size" => {
                if let Some(b) = parse_dimm_size(value) {
                    d.populated += 1;
                    d.total_bytes += b;
                    populated = true;
                }
            }
            "Type" if populated && value != "Unknown" && !d.types.iter().any(|x| x == value) => {
                d.types.push(value.to_string());
            }
            "Configured Memory Speed" | "Configured Clock Speed" if populated => {
                if let Some(s) = value
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    && !d.speeds_mts.contains(&s)
                {
                    d.speeds_mts.push(s);
                }
            }
            _ => {}
        }
    }
    if d.slots == 0 {
        return Err("dmidecode listed no memory device".into());
    }
    Ok(d)
}

/// Runs `dmidecode -t memory` with a time limit; its output is read up to
/// 1 MiB.
fn dmidecode_memory() -> Result<Dimms, String> {
    use crate::process::{RunFailure, run_bounded};
    let args = ["-t".to_string(), "memory".to_string()];
    let f = match run_bounded("dmidecode", &args, DMIDECODE_TIMEOUT, 1 << 20) {
        Ok(f) => f,
        Err(RunFailure::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(
                "dmidecode is not installed (it also needs root to read the DMI tables)".into(),
            );
        }
        Err(RunFailure::Spawn(e)) => return Err(format!("dmidecode could not start: {e}")),
        Err(RunFailure::TimedOut) => {
            return Err(format!(
                "dmidecode did not answer within {} s",
                DMIDECODE_TIMEOUT.as_secs()
            ));
        }
        Err(RunFailure::Wait(e)) => return Err(format!("dmidecode could not be waited for: {e}")),
    };
    if f.stderr.contains("Permission denied") || f.stderr.contains("Operation not permitted") {
        return Err("not readable: needs root (dmidecode reads the DMI tables)".into());
    }
    if !f.status.success() {
        return Err(format!(
            "dmidecode failed ({}): {}",
            f.status,
            f.stderr.lines().last().unwrap_or("no message")
        ));
    }
    parse_dmidecode(&f.stdout)
}

fn throttle_snapshot(sys: &Path) -> Result<ThrottleSnapshot, String> {
    let cpus = cpu_dirs(sys)?;
    let read_u64 =
        |p: PathBuf| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let mut events: Option<u64> = None;
    let mut freqs = Vec::new();
    for cpu in &cpus {
        for f in ["core_throttle_count", "package_throttle_count"] {
            if let Some(n) = read_u64(cpu.join("thermal_throttle").join(f)) {
                *events.get_or_insert(0) += n;
            }
        }
        if let Some(khz) = read_u64(cpu.join("cpufreq/scaling_cur_freq")) {
            freqs.push(khz as f64 / 1000.0);
        }
    }
    if events.is_none() && freqs.is_empty() {
        return Err(format!(
            "neither thermal_throttle counts nor scaling_cur_freq under {}/devices/system/cpu/cpu* ({})",
            sys.display(),
            no_cpufreq(sys)
        ));
    }
    let mean_freq_mhz = (!freqs.is_empty()).then(|| freqs.iter().sum::<f64>() / freqs.len() as f64);
    Ok(ThrottleSnapshot {
        thermal_events: events,
        mean_freq_mhz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_text_parses() {
        assert_eq!(
            parse_loadavg("0.52 1.58 2.59 2/345 12345\n").unwrap(),
            [0.52, 1.58, 2.59]
        );
        assert!(parse_loadavg("x y").is_err());
        let stat = "4242 (my (odd) prog) R 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1";
        assert_eq!(
            parse_pid_stat(stat),
            Some(("my (odd) prog".to_string(), 175))
        );
        assert_eq!(parse_pid_stat("12 (short) R 1"), None);
    }

    #[test]
    fn busy_processes_are_deltas_busiest_first() {
        let mut before = HashMap::new();
        let mut after = HashMap::new();
        before.insert(1, ("spin".to_string(), 100));
        after.insert(1, ("spin".to_string(), 180));
        before.insert(2, ("idle".to_string(), 7));
        after.insert(2, ("idle".to_string(), 7));
        before.insert(3, ("half".to_string(), 0));
        after.insert(3, ("half".to_string(), 20));
        // A new process with the same pid (renamed) is not counted.
        before.insert(4, ("old".to_string(), 0));
        after.insert(4, ("new".to_string(), 500));
        let b = busy_processes(&before, &after, 100.0, 0.4);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].name, "spin");
        assert!((b[0].cpus - 2.0).abs() < 1e-9);
        assert!((b[1].cpus - 0.5).abs() < 1e-9);
    }

    #[test]
    fn sysfs_text_parses() {
        assert_eq!(
            parse_selected("always [madvise] never\n").unwrap(),
            "madvise"
        );
        assert!(parse_selected("always madvise").is_err());
        assert!(parse_flag("1\n").unwrap());
        assert!(!parse_flag("0").unwrap());
        assert!(parse_flag("maybe").is_err());
        assert_eq!(
            parse_node_meminfo("Node 0 MemTotal:       32768 kB\nNode 0 MemFree: 1 kB\n"),
            Some(32768 * 1024)
        );
    }

    #[test]
    fn dmidecode_memory_devices_are_counted() {
        let text = "# dmidecode 3.3\nHandle 0x0010, DMI type 17, 92 bytes\nMemory Device\n\tSize: 16 GB\n\tLocator: DIMM_A1\n\tType: DDR4\n\tSpeed: 3200 MT/s\n\tConfigured Memory Speed: 2933 MT/s\n\nHandle 0x0011, DMI type 17, 92 bytes\nMemory Device\n\tSize: No Module Installed\n\tType: Unknown\n\nHandle 0x0012, DMI type 17, 92 bytes\nMemory Device\n\tSize: 16384 MB\n\tType: DDR4\n\tConfigured Memory Speed: 2933 MT/s\n\nHandle 0x0013, DMI type 16, 23 bytes\nPhysical Memory Array\n\tMaximum Capacity: 2 TB\n";
        let d = parse_dmidecode(text).unwrap();
        assert_eq!((d.slots, d.populated), (3, 2));
        assert_eq!(d.total_bytes, 32 << 30);
        assert_eq!(d.types, vec!["DDR4"]);
        assert_eq!(d.speeds_mts, vec![2933]);
        assert!(parse_dmidecode("# dmidecode 3.3\n").is_err());
    }

    fn quiet() -> Preflight {
        Preflight {
            load: Reading::Value(Load {
                loadavg: [0.1, 0.1, 0.1],
                sample_s: 0.4,
                other_cpus: 0.1,
                logical_cpus: 8,
                top: Vec::new(),
            }),
            governor: Reading::Value([("performance".to_string(), 8)].into()),
            turbo: Reading::Unavailable("none".into()),
            smt_active: Reading::Value(false),
            transparent_hugepages: Reading::Value("madvise".into()),
            numa: Reading::Value(vec![NumaNode {
                id: 0,
                cpus: "0-7".into(),
                memory_bytes: None,
            }]),
            memory: Reading::Unavailable("not readable: needs root".into()),
            gpus: Reading::Unavailable("no NVML".into()),
            throttle_start: Reading::Unavailable("none".into()),
            throttling: None,
            advice: Vec::new(),
            earlier_sessions: Vec::new(),
        }
    }

    #[test]
    fn a_resumed_run_keeps_every_sessions_preflight_oldest_first() {
        let stamp = |cpus: f64| {
            let mut p = quiet();
            if let Reading::Value(l) = &mut p.load {
                l.other_cpus = cpus;
            }
            p
        };
        let other = |p: &Preflight| match &p.load {
            Reading::Value(l) => l.other_cpus,
            Reading::Unavailable(_) => f64::NAN,
        };
        let second = stamp(2.0).resuming(Some(stamp(1.0)));
        let third = stamp(3.0).resuming(Some(second));
        assert_eq!(other(&third), 3.0);
        let earlier: Vec<f64> = third.earlier_sessions.iter().map(other).collect();
        assert_eq!(earlier, vec![1.0, 2.0]);
        assert!(
            third
                .earlier_sessions
                .iter()
                .all(|p| p.earlier_sessions.is_empty())
        );
        // A run stored without a preflight (an older file) starts the list empty.
        assert!(stamp(4.0).resuming(None).earlier_sessions.is_empty());
        // Serialised, a first session has no `earlier_sessions` key.
        let json = serde_json::to_value(stamp(1.0)).unwrap();
        assert!(json.get("earlier_sessions").is_none());
        let back: Preflight =
            serde_json::from_value(serde_json::to_value(&third).unwrap()).unwrap();
        assert_eq!(back.earlier_sessions.len(), 2);
    }

    #[test]
    fn advice_follows_the_readings() {
        let mut p = quiet();
        assert!(advise(&p).is_empty());
        // Eight spinning threads on eight CPUs.
        if let Reading::Value(l) = &mut p.load {
            l.other_cpus = 7.6;
            l.top.push(BusyProcess {
                pid: 9,
                name: "spin".into(),
                cpus: 7.6,
            });
        }
        p.governor = Reading::Value([("powersave".to_string(), 8)].into());
        p.transparent_hugepages = Reading::Value("always".into());
        let a = advise(&p);
        let kinds: Vec<AdviceKind> = a.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AdviceKind::BusyNode,
                AdviceKind::Governor,
                AdviceKind::HugePages
            ]
        );
        assert!(a[0].message.contains("7.6 of 8 CPUs"), "{}", a[0].message);
        assert!(a[0].message.contains("spin (pid 9)"), "{}", a[0].message);
        assert!(a[1].message.contains("'powersave' on 8 CPU(s)"));
        assert!(busy_threshold(1) == 0.5 && busy_threshold(8) == 2.0);
    }

    #[test]
    fn throttling_is_advised_on_events_or_a_frequency_drop() {
        let t = |events, a, b| Throttling {
            thermal_events_during: events,
            freq_start_mhz: a,
            freq_end_mhz: b,
        };
        assert!(throttling_advice(&t(Some(0), Some(3000.0), Some(2900.0))).is_none());
        let a = throttling_advice(&t(Some(3), None, None)).unwrap();
        assert!(a.message.contains("3 thermal throttle event(s)"));
        let a = throttling_advice(&t(None, Some(3000.0), Some(2000.0))).unwrap();
        assert!(a.message.contains("3000 -> 2000 MHz"), "{}", a.message);
    }

    #[test]
    fn collect_on_a_fake_tree_says_why_each_reading_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let cpu0 = sys.join("devices/system/cpu/cpu0");
        std::fs::create_dir_all(cpu0.join("cpufreq")).unwrap();
        std::fs::write(cpu0.join("cpufreq/scaling_governor"), "powersave\n").unwrap();
        std::fs::write(cpu0.join("cpufreq/scaling_cur_freq"), "2000000\n").unwrap();
        std::fs::create_dir_all(sys.join("devices/system/cpu/intel_pstate")).unwrap();
        std::fs::write(sys.join("devices/system/cpu/intel_pstate/no_turbo"), "1\n").unwrap();
        let roots = Roots {
            proc: PathBuf::from("/proc"),
            sys: sys.clone(),
        };
        let mut p = collect(&roots, 1, Reading::Unavailable("no NVML".into()));
        assert_eq!(p.governor.value().unwrap()["powersave"], 1);
        assert_eq!(p.turbo.value().map(|t| t.enabled), Some(false));
        assert!(matches!(&p.smt_active, Reading::Unavailable(w) if w.contains("smt/active")));
        assert!(matches!(&p.numa, Reading::Unavailable(w) if w.contains("devices/system/node")));
        assert!(matches!(&p.memory, Reading::Unavailable(w) if !w.is_empty()));
        assert_eq!(
            p.throttle_start.value().and_then(|t| t.mean_freq_mhz),
            Some(2000.0)
        );
        std::fs::write(cpu0.join("cpufreq/scaling_cur_freq"), "1000000\n").unwrap();
        p.finish(&roots);
        let t = p.throttling.as_ref().and_then(|t| t.value()).unwrap();
        assert_eq!(
            (t.freq_start_mhz, t.freq_end_mhz),
            (Some(2000.0), Some(1000.0))
        );
        assert!(p.advice.iter().any(|a| a.kind == AdviceKind::Throttling));
        // It round-trips through the stored JSON.
        let back: Preflight = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
}
