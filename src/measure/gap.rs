//! The gap between dispatches of a batch: time the device spends between
//! one kernel launch and the next (launch processing, the barrier between
//! dependent dispatches), which every iteration of a batch includes. A
//! 20 µs kernel with a 2 µs gap per dispatch reads 10% slow; the gap is
//! reported beside the kernel time so that a reader can tell the two apart.

use serde::{Deserialize, Serialize};

/// How a dispatch gap was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GapMethod {
    /// From the device's own events of a batch of the kernel itself: the
    /// batch's span less the sum of its kernels' durations (OpenCL
    /// profiling).
    KernelEvents,
    /// An empty kernel that writes one value, dispatched many times in one
    /// pass against once, on device timestamps (wgpu: per-dispatch
    /// timestamps inside a pass are an optional feature).
    EmptyKernel,
}

impl GapMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            GapMethod::KernelEvents => "kernel-events",
            GapMethod::EmptyKernel => "empty-kernel",
        }
    }
}

/// The gap per dispatch, and how many dispatches an iteration has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DispatchGap {
    /// Device seconds between the end of one dispatch and the start of the
    /// next (never negative).
    pub seconds: f64,
    /// Dispatches per iteration of the kernel.
    pub dispatches: u32,
    pub method: GapMethod,
}

impl DispatchGap {
    /// The gap from a batch's span and the sum of its `count` kernels'
    /// durations, each dispatch followed by one gap but the last; `None`
    /// for fewer than two kernels or a non-finite figure.
    pub fn from_span(span_s: f64, busy_s: f64, count: usize, dispatches: u32) -> Option<Self> {
        (count >= 2 && span_s.is_finite() && busy_s.is_finite()).then(|| DispatchGap {
            seconds: ((span_s - busy_s) / (count - 1) as f64).max(0.0),
            dispatches,
            method: GapMethod::KernelEvents,
        })
    }

    /// The gap from an empty kernel's passes: `many_s` for `count`
    /// dispatches, `one_s` for one; `None` when `count < 2`.
    pub fn from_empty_kernel(
        many_s: f64,
        one_s: f64,
        count: usize,
        dispatches: u32,
    ) -> Option<Self> {
        (count >= 2 && many_s.is_finite() && one_s.is_finite()).then(|| DispatchGap {
            seconds: ((many_s - one_s) / (count - 1) as f64).max(0.0),
            dispatches,
            method: GapMethod::EmptyKernel,
        })
    }

    /// The share of an iteration of `per_iter_s` that is gap.
    pub fn share_of(&self, per_iter_s: f64) -> f64 {
        if per_iter_s > 0.0 {
            (self.seconds * self.dispatches as f64 / per_iter_s).min(1.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_from_a_span_and_from_an_empty_kernel() {
        // Ten kernels of 20 µs over 218 µs: nine gaps of 2 µs.
        let g = DispatchGap::from_span(218e-6, 200e-6, 10, 1).unwrap();
        assert!((g.seconds - 2e-6).abs() < 1e-12, "{g:?}");
        assert!((g.share_of(22e-6) - 2.0 / 22.0).abs() < 1e-12);
        // 64 empty dispatches in 131 µs against one in 5 µs: 2 µs each.
        let e = DispatchGap::from_empty_kernel(131e-6, 5e-6, 64, 4).unwrap();
        assert!((e.seconds - 2e-6).abs() < 1e-12, "{e:?}");
        // Four dispatches per iteration: 8 µs of a 40 µs iteration.
        assert!((e.share_of(40e-6) - 0.2).abs() < 1e-12);
        // Clock noise never gives a negative gap; one kernel gives none.
        assert_eq!(
            DispatchGap::from_span(1e-6, 2e-6, 3, 1).unwrap().seconds,
            0.0
        );
        assert!(DispatchGap::from_span(1e-6, 1e-6, 1, 1).is_none());
    }
}
