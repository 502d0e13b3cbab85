//! The sampling thread of power meters: reads power every interval and
//! integrates it over the window with the trapezoid rule. A sample is also
//! taken at the very start and the very end, so the integral spans exactly
//! the window however it falls between ticks.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{PowerSource, RawEnergy, Window};

/// (seconds since start, watts)
type Samples = Vec<(f64, f64)>;

struct SampledWindow {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Result<Samples, String>>,
    source: Arc<dyn PowerSource>,
    start: Instant,
}

pub(super) fn start(
    source: Arc<dyn PowerSource>,
    interval: Duration,
) -> Result<Box<dyn Window>, String> {
    let first = source.read_watts()?;
    let start = Instant::now();
    let (stop, stopped) = mpsc::channel::<()>();
    let thread_source = source.clone();
    let thread = std::thread::Builder::new()
        .name("hetbench-power".into())
        .spawn(move || {
            let mut samples = vec![(0.0, first)];
            loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {
                        let w = thread_source.read_watts()?;
                        samples.push((start.elapsed().as_secs_f64(), w));
                    }
                    _ => return Ok(samples),
                }
            }
        })
        .map_err(|e| format!("could not start the sampling thread: {e}"))?;
    Ok(Box::new(SampledWindow {
        stop,
        thread,
        source,
        start,
    }))
}

impl Window for SampledWindow {
    fn close(self: Box<Self>) -> Result<RawEnergy, String> {
        let end = self.start.elapsed().as_secs_f64();
        let _ = self.stop.send(());
        let mut samples = self
            .thread
            .join()
            .map_err(|_| "the sampling thread panicked".to_string())??;
        samples.push((end, self.source.read_watts()?));
        Ok(RawEnergy {
            joules: integrate(&samples),
            seconds: end,
            samples: samples.len(),
        })
    }
}

/// Trapezoid integral of (t, W) samples sorted by t.
pub fn integrate(samples: &[(f64, f64)]) -> f64 {
    samples
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * 0.5 * (w[0].1 + w[1].1))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Constant(f64, AtomicU32);
    impl PowerSource for Constant {
        fn read_watts(&self) -> Result<f64, String> {
            self.1.fetch_add(1, Ordering::Relaxed);
            Ok(self.0)
        }
    }

    #[test]
    fn trapezoid_by_hand() {
        assert_eq!(
            integrate(&[(0.0, 10.0), (1.0, 20.0), (3.0, 20.0)]),
            15.0 + 40.0
        );
        assert_eq!(integrate(&[(0.0, 10.0)]), 0.0);
    }

    #[test]
    fn constant_power_integrates_to_power_times_time() {
        let src = Arc::new(Constant(50.0, AtomicU32::new(0)));
        let w = start(src.clone(), Duration::from_millis(5)).unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let e = w.close().unwrap();
        assert!((e.joules - 50.0 * e.seconds).abs() < 1e-9, "{e:?}");
        assert!(e.seconds >= 0.06);
        assert!(e.samples >= 4, "{e:?}");
        assert_eq!(src.1.load(Ordering::Relaxed) as usize, e.samples);
    }
}
