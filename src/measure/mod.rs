//! The measurement engine: warm-up, then timed samples until both a time
//! budget and a minimum sample count are met.
//!
//! Each sample times a batch of iterations long enough for the clock and the
//! launch overhead to vanish (criterion's approach); the sample's value is
//! the batch time divided by its iterations. Where the backend gives device
//! time, it is summarised beside the host time, and the batch's length is
//! chosen from it: host time includes submit and wait, which would make a
//! fast GPU's batches too short. A sample without device time is said, not
//! silently replaced. The gap between dispatches of a batch is measured
//! after the window ([`gap`]) and reported beside the kernel time.

pub mod gap;
pub mod stats;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backends::{DeviceClock, Prepared};
use crate::error::Result;
use crate::power::{EnergyMeter, RawEnergy};
pub use gap::DispatchGap;
pub use stats::Summary;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeasureConfig {
    /// Warm-up time before sampling (at least one iteration is always run).
    pub warmup_s: f64,
    /// Time budget for sampling: sampling stops once it is spent and
    /// `min_samples` are taken.
    pub budget_s: f64,
    pub min_samples: usize,
    pub max_samples: usize,
    /// A sample batches iterations until it lasts at least this long.
    pub min_sample_s: f64,
    /// The timed window lasts at least this long (`--energy-window`: ten
    /// update intervals of the slowest energy meter); 0 for no minimum.
    pub min_window_s: f64,
}

impl MeasureConfig {
    /// The default: about one second per kernel, size and device.
    pub const DEFAULT: MeasureConfig = MeasureConfig {
        warmup_s: 0.2,
        budget_s: 1.0,
        min_samples: 10,
        max_samples: 1000,
        min_sample_s: 0.001,
        min_window_s: 0.0,
    };

    /// `--quick`: a smoke run, a tenth of the default.
    pub const QUICK: MeasureConfig = MeasureConfig {
        warmup_s: 0.02,
        budget_s: 0.1,
        min_samples: 3,
        max_samples: 100,
        min_sample_s: 0.001,
        min_window_s: 0.0,
    };
}

/// Advice about a measurement, shown on stderr and stored with the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// One iteration is so short that launch and clock overheads matter.
    FastExecutionTime { per_iter_s: f64 },
    /// The spread of the samples is large.
    HighVariation { cv: f64 },
    /// Some samples are far from the rest.
    OutliersDetected { outliers: usize, n: usize },
    /// The budget allowed fewer samples than asked for.
    FewSamples { n: usize },
    /// A device with its own clock gave no device time for some samples:
    /// the result is ranked on host time.
    MissingDeviceTime { missing: usize, n: usize },
    /// The gap between dispatches is a large share of an iteration.
    DispatchGap {
        gap_s: f64,
        dispatches: u32,
        share: f64,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::FastExecutionTime { per_iter_s } => write!(
                f,
                "one iteration takes only {:.1} µs: launch and timer overheads may distort it; use a larger --size",
                per_iter_s * 1e6
            ),
            Warning::HighVariation { cv } => write!(
                f,
                "samples vary by {:.1}% (stddev/mean): stop other work on this node, fix the CPU frequency governor, or raise --time-budget",
                cv * 100.0
            ),
            Warning::OutliersDetected { outliers, n } => write!(
                f,
                "{outliers} of {n} samples are statistical outliers (modified Z-score > {}): another process or frequency change interfered; rerun on an idle node",
                stats::OUTLIER_Z
            ),
            Warning::FewSamples { n } => write!(
                f,
                "only {n} samples were taken: statistics are weak; raise --time-budget"
            ),
            Warning::MissingDeviceTime { missing, n } => write!(
                f,
                "{missing} of {n} samples had no device timestamps (the driver gave none, or \
                 none increasing): the result is ranked on host time, which includes submit and \
                 wait and reads a fast device slow"
            ),
            Warning::DispatchGap {
                gap_s,
                dispatches,
                share,
            } => write!(
                f,
                "the device idles {:.2} µs between dispatches ({dispatches} per iteration): {:.0}% \
                 of the iteration time is launch gap, not kernel; a larger --size shows the \
                 kernel's own speed",
                gap_s * 1e6,
                share * 100.0
            ),
        }
    }
}

/// Below this per-iteration time the [`Warning::FastExecutionTime`] is given.
pub const FAST_ITERATION_S: f64 = 20e-6;
/// Above this coefficient of variation the [`Warning::HighVariation`] is given.
pub const HIGH_CV: f64 = 0.10;
/// A bandwidth figure measures memory, not cache, only when its working
/// set is at least this many times the device's last-level cache.
pub const CACHE_FACTOR: f64 = 4.0;
/// Above this share of an iteration the [`Warning::DispatchGap`] is given.
pub const GAP_SHARE: f64 = 0.05;
/// Iterations longer than this are not run again to measure the dispatch
/// gap (a gap of microseconds is under 0.1% of them).
pub const GAP_MAX_ITER_S: f64 = 0.01;

/// End-to-end samples taken after the timed window (fewer if they exceed
/// the time budget).
pub const END_TO_END_SAMPLES: usize = 5;

/// The samples and their summaries.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Host seconds per iteration, one value per sample.
    pub host_samples: Vec<f64>,
    /// Device seconds per iteration, where the backend measures them.
    pub device_samples: Option<Vec<f64>>,
    pub iters_per_sample: u64,
    pub host: Summary,
    pub device: Option<Summary>,
    pub warnings: Vec<Warning>,
    /// Total wall time of the timed window (samples only, not warm-up).
    pub window_s: f64,
    /// End-to-end seconds (upload, one iteration, read-back), where the
    /// backend has separate device memory.
    pub end_to_end: Option<Summary>,
    /// Each meter's energy over exactly the timed window, in the order of
    /// the meters given, or why the meter failed.
    pub energy: Vec<std::result::Result<RawEnergy, String>>,
    /// The gap between dispatches of a batch, where the backend measures it.
    pub dispatch_gap: Option<DispatchGap>,
}

impl Measurement {
    /// The summary rankings use: device time where measured, else host time.
    pub fn primary(&self) -> &Summary {
        self.device.as_ref().unwrap_or(&self.host)
    }
}

/// Measures `prepared` under `cfg`, with every meter open over exactly the
/// timed window (warm-up and end-to-end runs excluded).
pub fn measure(
    prepared: &mut dyn Prepared,
    cfg: &MeasureConfig,
    meters: &[Box<dyn EnergyMeter>],
) -> Result<Measurement> {
    // Warm-up: at least one iteration, until the warm-up time is spent.
    // The batch length follows device time where there is one.
    let per_iter = |t: crate::backends::Timing| t.device_s.unwrap_or(t.host_s);
    let warm_start = Instant::now();
    let mut last = per_iter(prepared.run(1)?);
    while warm_start.elapsed().as_secs_f64() < cfg.warmup_s {
        last = per_iter(prepared.run(1)?);
    }
    let per_iter = last.max(1e-9);
    let iters = ((cfg.min_sample_s / per_iter).ceil() as u64).max(1);

    let mut host = Vec::new();
    let mut device: Vec<f64> = Vec::new();
    let mut missing = 0;
    let windows: Vec<_> = meters.iter().map(|m| m.open()).collect();
    let start = Instant::now();
    loop {
        let t = prepared.run(iters)?;
        host.push(t.host_s / iters as f64);
        match t.device_s {
            Some(d) => device.push(d / iters as f64),
            None => missing += 1,
        }
        let n = host.len();
        let spent = start.elapsed().as_secs_f64();
        if n >= cfg.max_samples
            || (n >= cfg.min_samples && spent >= cfg.budget_s.max(cfg.min_window_s))
        {
            break;
        }
    }
    let window_s = start.elapsed().as_secs_f64();
    let energy = windows
        .into_iter()
        .map(|w| w.and_then(|w| w.close()))
        .collect();

    // End-to-end: a few invocations with transfers, outside the window.
    let mut e2e = Vec::new();
    let e2e_start = Instant::now();
    while e2e.len() < END_TO_END_SAMPLES {
        match prepared.end_to_end()? {
            Some(t) => e2e.push(t),
            None => break,
        }
        if e2e_start.elapsed().as_secs_f64() > cfg.budget_s {
            break;
        }
    }
    let host_summary = Summary::of(&host).ok_or_else(|| crate::error::Error::Backend {
        backend: "measure".into(),
        message: "a timing sample was not a finite number".into(),
    })?;
    // A gap is microseconds: it cannot matter to iterations of more than
    // GAP_MAX_ITER_S, which are not run again for it.
    let dispatch_gap = if per_iter < GAP_MAX_ITER_S {
        prepared.dispatch_gap(iters.clamp(2, 256))?
    } else {
        None
    };
    let n = host.len();
    let device_samples = (missing == 0 && !device.is_empty()).then_some(device);
    let device_summary = device_samples.as_deref().and_then(Summary::of);
    let mut m = Measurement {
        host_samples: host,
        device_samples,
        iters_per_sample: iters,
        host: host_summary,
        device: device_summary,
        warnings: Vec::new(),
        window_s,
        end_to_end: Summary::of(&e2e),
        energy,
        dispatch_gap,
    };
    m.warnings = warnings(m.primary(), cfg);
    if prepared.device_clock() != DeviceClock::Host && missing > 0 {
        m.warnings.push(Warning::MissingDeviceTime { missing, n });
    }
    if let Some(g) = dispatch_gap {
        let share = g.share_of(m.primary().median);
        if share > GAP_SHARE {
            m.warnings.push(Warning::DispatchGap {
                gap_s: g.seconds,
                dispatches: g.dispatches,
                share,
            });
        }
    }
    Ok(m)
}

/// A modeled backend's figures (FPGA emulation): one invocation, whose
/// device time is the model's latency. Nothing is measured, so there is no
/// warm-up, no time budget, no meter and no interval: repeating a figure
/// the model gives would only make a sample of identical values.
pub fn modeled(prepared: &mut dyn Prepared) -> Result<Measurement> {
    let t = prepared.run(1)?;
    let figure = |x: f64| {
        Summary::of(&[x]).ok_or_else(|| crate::error::Error::Backend {
            backend: "model".into(),
            message: format!("the modeled time {x} is not a finite number"),
        })
    };
    let device = t.device_s.map(figure).transpose()?;
    Ok(Measurement {
        host_samples: vec![t.host_s],
        device_samples: t.device_s.map(|d| vec![d]),
        iters_per_sample: 1,
        host: figure(t.host_s)?,
        device,
        warnings: Vec::new(),
        window_s: t.host_s,
        end_to_end: None,
        energy: Vec::new(),
        dispatch_gap: None,
    })
}

/// The warnings a summary deserves.
pub fn warnings(s: &Summary, cfg: &MeasureConfig) -> Vec<Warning> {
    let mut w = Vec::new();
    if s.median < FAST_ITERATION_S {
        w.push(Warning::FastExecutionTime {
            per_iter_s: s.median,
        });
    }
    if s.cv() > HIGH_CV {
        w.push(Warning::HighVariation { cv: s.cv() });
    }
    if s.outliers > 0 {
        w.push(Warning::OutliersDetected {
            outliers: s.outliers,
            n: s.n,
        });
    }
    if s.n < cfg.min_samples {
        w.push(Warning::FewSamples { n: s.n });
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::Timing;
    use crate::kernel::Buffers;

    /// A fake backend whose iterations take a scripted time.
    struct Scripted {
        per_iter: Vec<f64>,
        calls: usize,
        iters_seen: Vec<u64>,
    }

    impl Prepared for Scripted {
        fn run(&mut self, iters: u64) -> Result<Timing> {
            let t = self.per_iter[self.calls.min(self.per_iter.len() - 1)];
            self.calls += 1;
            self.iters_seen.push(iters);
            std::thread::sleep(std::time::Duration::from_micros(200));
            Ok(Timing {
                host_s: t * iters as f64,
                device_s: Some(t * iters as f64 * 0.5),
            })
        }
        fn read_back(&mut self) -> Result<Buffers> {
            Ok(Buffers::default())
        }
    }

    #[test]
    fn batches_short_iterations_and_meets_min_samples() {
        let mut p = Scripted {
            per_iter: vec![1e-5],
            calls: 0,
            iters_seen: vec![],
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            budget_s: 0.0,
            min_samples: 7,
            max_samples: 100,
            min_sample_s: 1e-3,
            min_window_s: 0.0,
        };
        let m = measure(&mut p, &cfg, &[]).unwrap();
        assert_eq!(m.host.n, 7);
        // Batches follow device time (half the host time here): 1 ms of
        // 5 µs iterations.
        assert_eq!(m.iters_per_sample, 200);
        assert!((m.host.median - 1e-5).abs() < 1e-15);
        // Device time is the primary figure when present.
        assert!((m.primary().median - 0.5e-5).abs() < 1e-15);
        assert!(
            m.warnings
                .contains(&Warning::FastExecutionTime { per_iter_s: 0.5e-5 })
        );
    }

    #[test]
    fn a_modeled_backend_is_run_once_and_measured_not_at_all() {
        let mut p = Scripted {
            per_iter: vec![3e-6],
            calls: 0,
            iters_seen: vec![],
        };
        let m = modeled(&mut p).unwrap();
        // One invocation of one iteration: no warm-up, no samples, no meter.
        assert_eq!(p.iters_seen, vec![1]);
        assert_eq!(m.primary().n, 1);
        assert!((m.primary().median - 1.5e-6).abs() < 1e-18);
        assert_eq!(m.primary().median_ci95, None);
        assert!(m.energy.is_empty() && m.warnings.is_empty());
        assert_eq!((m.end_to_end, m.dispatch_gap), (None, None));
    }

    /// A GPU-like backend: every other sample lacks device time, and a
    /// 2 µs gap per dispatch on a 10 µs host iteration.
    struct Gappy {
        calls: usize,
    }

    impl Prepared for Gappy {
        fn run(&mut self, iters: u64) -> Result<Timing> {
            self.calls += 1;
            Ok(Timing {
                host_s: 1e-5 * iters as f64,
                device_s: self
                    .calls
                    .is_multiple_of(2)
                    .then_some(0.8e-5 * iters as f64),
            })
        }
        fn read_back(&mut self) -> Result<Buffers> {
            Ok(Buffers::default())
        }
        fn device_clock(&self) -> DeviceClock {
            DeviceClock::Timestamps
        }
        fn dispatch_gap(&mut self, iters: u64) -> Result<Option<DispatchGap>> {
            assert!((2..=256).contains(&iters), "{iters}");
            Ok(Some(DispatchGap {
                seconds: 2e-6,
                dispatches: 1,
                method: gap::GapMethod::KernelEvents,
            }))
        }
    }

    #[test]
    fn missing_device_time_and_a_large_gap_are_said() {
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            budget_s: 0.0,
            min_samples: 6,
            max_samples: 6,
            min_sample_s: 1e-3,
            min_window_s: 0.0,
        };
        let m = measure(&mut Gappy { calls: 0 }, &cfg, &[]).unwrap();
        // Three of six samples had no device time: host time ranks it,
        // and the warning says so.
        assert!(m.device.is_none());
        assert!(
            m.warnings
                .contains(&Warning::MissingDeviceTime { missing: 3, n: 6 })
        );
        // 2 µs of a 10 µs iteration is gap.
        let gap = m.warnings.iter().find_map(|w| match w {
            Warning::DispatchGap { share, .. } => Some(*share),
            _ => None,
        });
        assert!((gap.unwrap() - 0.2).abs() < 1e-12, "{:?}", m.warnings);
        assert!(m.warnings.iter().any(|w| w.to_string().contains("2.00 µs")));
        // A host-clocked backend (the CPU) never gets the first warning.
        let mut cpu = Scripted {
            per_iter: vec![1e-3],
            calls: 0,
            iters_seen: vec![],
        };
        let m = measure(&mut cpu, &cfg, &[]).unwrap();
        assert!(m.dispatch_gap.is_none());
        assert!(
            !m.warnings
                .iter()
                .any(|w| matches!(w, Warning::MissingDeviceTime { .. }))
        );
    }

    #[test]
    fn outliers_and_variation_are_warned() {
        let mut times = vec![1e-3; 20];
        times[10] = 5e-3;
        let mut p = Scripted {
            per_iter: times,
            calls: 0,
            iters_seen: vec![],
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            budget_s: 0.0,
            min_samples: 19,
            max_samples: 19,
            min_sample_s: 1e-3,
            min_window_s: 0.0,
        };
        let m = measure(&mut p, &cfg, &[]).unwrap();
        assert_eq!(m.host.outliers, 1);
        assert!(
            m.warnings
                .iter()
                .any(|w| matches!(w, Warning::OutliersDetected { outliers: 1, n: 19 }))
        );
        assert!(
            m.warnings
                .iter()
                .any(|w| matches!(w, Warning::HighVariation { .. }))
        );
        assert!(
            m.warnings[0].to_string().contains("--size")
                || m.warnings[0].to_string().contains("vary")
        );
    }
}
