//! The records hetbench stores: one [`RunRecord`] per `hetbench run`, one
//! [`ResultRecord`] per kernel x size x precision x backend x device, and the
//! [`RunFile`] that holds a run with its results as JSON.
//!
//! Units are normalised: times in seconds, energy in joules, power in watts,
//! data in bytes. Throughput is in the kernel's manifest unit, which is
//! stored beside it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backends::{BackendKind, DeviceType};
use crate::kernel::{Param, Precision, Verdict, Work};
use crate::measure::stats::Interval;
use crate::measure::{DispatchGap, Summary, Warning};
use crate::platform::Fingerprint;
use crate::power::{EnergyReading, IdleReading};

/// The JSON run-file schema this hetbench writes and reads.
pub const RUN_FILE_SCHEMA: u32 = 1;

/// The outcome of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured and verified.
    Ok,
    /// Measured, but the output did not match the reference: never ranked.
    VerifyFailed,
    /// The backend failed to prepare or run the kernel.
    Error,
    /// The measurement exceeded its time limit.
    Timeout,
    /// The backend process died.
    Crashed,
    /// Not attempted, with the reason in `message`.
    Skipped,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::VerifyFailed,
        Status::Error,
        Status::Timeout,
        Status::Crashed,
        Status::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::VerifyFailed => "verify_failed",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Crashed => "crashed",
            Status::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// [`Status::parse`], refusing an unknown name with the valid ones.
    pub fn from_name(s: &str) -> crate::error::Result<Status> {
        Self::parse(s).ok_or_else(|| crate::error::Error::UnknownName {
            what: "status",
            name: s.to_string(),
            valid: Self::ALL.map(|s| s.as_str()).join(", "),
        })
    }

    /// Whether the result counts as a failure of the run (exit code 3).
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::VerifyFailed | Status::Error | Status::Timeout | Status::Crashed
        )
    }
}

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Finished,
    Interrupted,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Failed => "failed",
        }
    }
}

/// One `hetbench run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: RunStatus,
    pub harness_version: String,
    pub suite_version: String,
    pub platform: Fingerprint,
    /// The command line that started the run.
    pub command: String,
    /// Each meter's idle power, measured before the first measurement.
    #[serde(default)]
    pub idle: Vec<IdleReading>,
    /// What the run measures and how, for `--resume`.
    #[serde(default)]
    pub plan: Option<crate::plan::RunPlan>,
}

/// The clock a result is ranked by. Stored as `device` or `host`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Timer {
    /// The device's own timestamps (GPU timestamp queries, OpenCL events).
    Device,
    /// Host wall time around the dispatches.
    Host,
}

impl Timer {
    pub fn as_str(self) -> &'static str {
        match self {
            Timer::Device => "device",
            Timer::Host => "host",
        }
    }
}

impl std::fmt::Display for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Timing of a result: which clock ranks it and the summaries of both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingRecord {
    /// The clock that ranks the result: the device's where the backend
    /// measured device time, else the host's.
    pub timer: Timer,
    /// Seconds per iteration of the ranking clock.
    pub summary: Summary,
    /// Host wall seconds per iteration, always measured.
    pub host: Summary,
    pub iters_per_sample: u64,
    /// Wall time of the timed window, seconds (energy meters cover it).
    pub window_s: f64,
    /// Seconds of one invocation with upload and read-back, where the
    /// device has memory of its own.
    #[serde(default)]
    pub end_to_end: Option<Summary>,
    /// The gap between dispatches of a batch (device seconds per dispatch),
    /// which the ranking clock's time per iteration includes; where the
    /// backend measures it (GPU backends with timestamps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_gap: Option<DispatchGap>,
}

/// One measurement: a kernel at a size and precision on a device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub run_id: String,
    pub kernel: String,
    pub kernel_version: String,
    /// SHA-256 of the kernel's manifest and sources.
    pub kernel_hash: String,
    pub size: String,
    pub size_params: BTreeMap<String, Param>,
    pub precision: Precision,
    pub seed: u64,
    pub backend: BackendKind,
    pub device: String,
    pub device_name: String,
    pub device_type: DeviceType,
    /// The device's last-level cache in bytes, where reported (see
    /// `backends::Device`); `None` in records written before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_level_cache_bytes: Option<u64>,
    pub status: Status,
    pub timing: Option<TimingRecord>,
    /// In `throughput_unit`, from the median of the ranking clock.
    pub throughput: Option<f64>,
    pub throughput_unit: String,
    pub work: Option<Work>,
    pub verification: Option<Verdict>,
    /// Why a result is not `ok`, in words.
    pub message: Option<String>,
    #[serde(default)]
    pub warnings: Vec<Warning>,
    /// Every energy meter's reading over the timed window.
    #[serde(default)]
    pub energy: Vec<EnergyReading>,
    pub harness_version: String,
    pub suite_version: String,
    pub hostname: String,
    pub platform_hash: String,
    /// The run's platform label (`run --label`), where one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_label: Option<String>,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    /// A modeled backend's report (FPGA emulation: card, model version,
    /// assumptions, latency, II, resources, power, accuracy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelRecord>,
    /// Which replicate of a `run --repeat N` series this result is; `None`
    /// for a single run (and in records written before replicates were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicate: Option<crate::plan::Replicate>,
    /// Set by the reports on the figure that combines the replicates of a
    /// series (see `report::data`), never on a measured record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combined: Option<Combined>,
}

/// A figure combined from the replicates of one series: the median of their
/// throughputs and its 95% interval over the replicates (`report::data`
/// says how it is computed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Combined {
    pub series_id: String,
    /// The replicates combined (ok results of the same key).
    pub replicates: usize,
    /// The run ids of the replicates, oldest first.
    pub run_ids: Vec<String>,
    /// The 95% interval of the combined throughput; `None` where the
    /// replicates gave none.
    pub throughput_ci95: Option<Interval>,
    /// How the interval was made: `order-statistic` or `envelope`.
    pub interval_method: String,
    /// The median time the combined throughput stands for, seconds: the
    /// work over it (for an odd count, the middle replicate's median
    /// time), with the interval the throughput's gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ci95: Option<Interval>,
    /// The node-level reading of the series (`power::node::node_level` of
    /// each replicate, combined as its energy readings are), where every
    /// replicate has one of the same meters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_energy: Option<EnergyReading>,
}

/// A modeled result's report as stored: typed where this version reads it,
/// kept whole where it does not (a report of another model version, or one
/// with a figure that is not a number), so that such a record still loads
/// and nothing stored is lost. Serialised as the report itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ModelRecord {
    Report(Box<crate::kernel::fpga::ModelReport>),
    Unread(serde_json::Value),
}

impl ModelRecord {
    /// The report, where this version can read it.
    pub fn report(&self) -> Option<&crate::kernel::fpga::ModelReport> {
        match self {
            ModelRecord::Report(r) => Some(r),
            ModelRecord::Unread(_) => None,
        }
    }
}

impl ResultRecord {
    /// Whether the result's figures come from a model, not a measurement
    /// (the FPGA emulation): it has a model report, a modeled energy
    /// reading or an emulated device. Such results are ranked against
    /// measured ones only when the user asks (`--include-modeled`).
    pub fn is_modeled(&self) -> bool {
        self.model.is_some()
            || self.device_type == DeviceType::FpgaEmulated
            || self
                .energy
                .iter()
                .any(|e| e.method == crate::power::Method::Modeled)
    }

    /// The 95% interval of the median time that the throughput comes from;
    /// `None` for a modeled result (its times are no sample), below 6
    /// samples, and in records written before the interval was stored.
    pub fn median_interval(&self) -> Option<Interval> {
        if self.is_modeled() {
            return None;
        }
        self.timing.as_ref()?.summary.median_ci95
    }

    /// The 95% interval of the throughput: the work over the ends of the
    /// median time's interval (the throughput is work / median, so the
    /// interval of one is the interval of the other, ends swapped).
    /// A combined figure of several replicates carries its own interval,
    /// which covers run-to-run variation.
    pub fn throughput_interval(&self) -> Option<Interval> {
        if let Some(c) = &self.combined {
            return c.throughput_ci95;
        }
        let t = self.throughput?;
        let median = self.timing.as_ref()?.summary.median;
        let ci = self.median_interval()?;
        (ci.low > 0.0).then(|| Interval {
            low: t * median / ci.high,
            high: t * median / ci.low,
        })
    }

    /// The platform's name for tables: its label, else its host name.
    pub fn display_label(&self) -> &str {
        self.platform_label.as_deref().unwrap_or(&self.hostname)
    }

    /// The energy reading that speaks for this result's device.
    pub fn primary_energy(&self) -> Option<&EnergyReading> {
        crate::power::primary(&self.energy, self.device_type)
    }

    /// Checks that the record's figures are possible, naming the first
    /// field that is not (`timing.summary.min: ...`): every timing, work,
    /// throughput and energy figure finite and non-negative (a mean's
    /// interval may start below zero, active power be negative), a summary's
    /// 0 < min <= median, mean <= max and low <= high, and an `ok` result
    /// measured, verified and passed. Such a record, however it came (a
    /// meter reading 1e308 W, a subnormal time, an edited run file), would
    /// mislead every ranking, so it is refused where it comes in.
    pub fn check_figures(&self) -> std::result::Result<(), String> {
        let number = |field: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{field}: {v} is not a finite non-negative number"))
            }
        };
        let summary = |field: &str, s: &Summary| {
            for (name, v) in [
                ("median", s.median),
                ("mean", s.mean),
                ("stddev", s.stddev),
                ("min", s.min),
                ("max", s.max),
                ("ci95_high", s.ci95_high),
                ("mad", s.mad),
            ] {
                number(&format!("{field}.{name}"), v)?;
            }
            // The mean's interval may reach below zero for a wide sample.
            if !s.ci95_low.is_finite() {
                return Err(format!("{field}.ci95_low: {} is not finite", s.ci95_low));
            }
            // A relative slack for the rounding of a mean of equal values.
            let le = |a: f64, b: f64| a <= b + 1e-12 * b.abs();
            if s.n == 0 {
                return Err(format!("{field}.n: 0 samples"));
            }
            if !(s.min > 0.0 && le(s.min, s.median) && le(s.median, s.max)) {
                return Err(format!(
                    "{field}: min {}, median {}, max {} are not 0 < min <= median <= max",
                    s.min, s.median, s.max
                ));
            }
            if !(le(s.min, s.mean) && le(s.mean, s.max) && s.ci95_low <= s.ci95_high) {
                return Err(format!(
                    "{field}: mean {} outside [min {}, max {}] or ci95 {} .. {} reversed",
                    s.mean, s.min, s.max, s.ci95_low, s.ci95_high
                ));
            }
            if let Some(ci) = s.median_ci95
                && !(ci.low.is_finite()
                    && ci.high.is_finite()
                    && le(s.min, ci.low)
                    && le(ci.low, s.median)
                    && le(s.median, ci.high)
                    && le(ci.high, s.max))
            {
                return Err(format!(
                    "{field}.median_ci95: {} .. {} is not within min {} <= low <= median {} <= high <= max {}",
                    ci.low, ci.high, s.min, s.median, s.max
                ));
            }
            Ok(())
        };
        if let Some(t) = &self.timing {
            summary("timing.summary", &t.summary)?;
            summary("timing.host", &t.host)?;
            if let Some(e) = &t.end_to_end {
                summary("timing.end_to_end", e)?;
            }
            number("timing.window_s", t.window_s)?;
            if let Some(g) = &t.dispatch_gap {
                number("timing.dispatch_gap.seconds", g.seconds)?;
            }
        }
        if let Some(t) = self.throughput {
            number("throughput", t)?;
        }
        if let Some(w) = &self.work {
            number("work.flops", w.flops)?;
            number("work.bytes", w.bytes)?;
            number("work.items", w.items)?;
        }
        for (i, e) in self.energy.iter().enumerate() {
            let f = |name: &str| format!("energy[{i}].{name}");
            number(&f("interval_s"), e.interval_s)?;
            number(&f("window_s"), e.window_s)?;
            number(&f("energy_j"), e.energy_j)?;
            number(&f("avg_w"), e.avg_w)?;
            for (name, v) in [
                ("idle_w", e.idle_w),
                ("perf_per_w", e.perf_per_w),
                ("perf_per_active_w", e.perf_per_active_w),
            ] {
                if let Some(v) = v {
                    number(&f(name), v)?;
                }
            }
            // Active power is gross minus idle: negative within noise.
            if let Some(a) = e.active_w
                && !a.is_finite()
            {
                return Err(format!("{}: {a} is not a finite number", f("active_w")));
            }
        }
        if self.status == Status::Ok {
            let (Some(_), Some(_)) = (&self.timing, self.throughput) else {
                return Err("status: ok without timing and throughput".into());
            };
            match &self.verification {
                Some(v) if v.passed && v.worst_ratio.is_finite() => {}
                Some(v) => {
                    return Err(format!(
                        "status: ok but verification did not pass (worst ratio {})",
                        v.worst_ratio
                    ));
                }
                None => return Err("status: ok without a verification".into()),
            }
        }
        Ok(())
    }

    /// Makes a measurement with an impossible figure an `error` that says
    /// which, never `ok`: the energy readings go first, then the timing,
    /// until what is left can be stored and read back. Returns whether it
    /// changed anything.
    pub fn refuse_impossible_figures(&mut self) -> bool {
        let Err(why) = self.check_figures() else {
            return false;
        };
        self.status = Status::Error;
        self.message = Some(format!(
            "the measurement produced an impossible figure: {why}"
        ));
        if self.check_figures().is_err() {
            self.energy.clear();
        }
        if self.check_figures().is_err() {
            self.timing = None;
            self.throughput = None;
            self.work = None;
        }
        true
    }

    /// The key that identifies a result within its run.
    pub fn key(&self) -> (String, String, String, String, String) {
        (
            self.kernel.clone(),
            self.size.clone(),
            self.precision.to_string(),
            self.backend.to_string(),
            self.device.clone(),
        )
    }
}

/// A run and its results, as stored in `results/runs/<run-id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    pub schema_version: u32,
    pub run: RunRecord,
    pub results: Vec<ResultRecord>,
}

/// The current time as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
