//! The dispatch gap on wgpu, by an empty kernel: timestamps between the
//! dispatches of one pass are an optional feature
//! (`TIMESTAMP_QUERY_INSIDE_PASSES`), so the gap is calibrated instead. A
//! kernel of one invocation that adds one to a storage value is dispatched
//! [`MANY`] times in one pass and once in another; wgpu puts a barrier
//! between dispatches that write the same storage buffer, as between a
//! kernel's iterations, so the difference per extra dispatch is the gap a
//! kernel's batch pays per dispatch (plus the empty kernel's own few
//! nanoseconds). The median of [`REPEATS`] calibrations is reported.

use super::{Opened, Scopes, Timestamps, backend_error, read_ticks};
use crate::error::Result;
use crate::measure::DispatchGap;

/// The empty kernel: one invocation, one read-modify-write.
const WGSL: &str = "@group(0) @binding(0) var<storage, read_write> sink: array<u32>;\n\
    @compute @workgroup_size(1, 1, 1)\n\
    fn empty() { sink[0] = sink[0] + 1u; }\n";

/// Dispatches in the long pass.
pub(super) const MANY: u32 = 64;
/// Calibrations whose median is reported.
pub(super) const REPEATS: usize = 5;

/// The empty kernel's pipeline and a query set for two passes.
pub(super) struct EmptyKernel {
    pipeline: ::wgpu::ComputePipeline,
    bind_group: ::wgpu::BindGroup,
    timestamps: Timestamps,
}

impl EmptyKernel {
    pub(super) fn new(opened: &Opened) -> Result<EmptyKernel> {
        let device = &opened.device;
        let scopes = Scopes::push(opened);
        let module = device.create_shader_module(::wgpu::ShaderModuleDescriptor {
            label: Some("dispatch-gap calibration"),
            source: ::wgpu::ShaderSource::Wgsl(WGSL.into()),
        });
        let pipeline = device.create_compute_pipeline(&::wgpu::ComputePipelineDescriptor {
            label: Some("dispatch-gap calibration"),
            layout: None,
            module: &module,
            entry_point: Some("empty"),
            compilation_options: Default::default(),
            cache: None,
        });
        let sink = device.create_buffer(&::wgpu::BufferDescriptor {
            label: Some("gap sink"),
            size: 4,
            usage: ::wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&::wgpu::BindGroupDescriptor {
            label: Some("dispatch-gap calibration"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[::wgpu::BindGroupEntry {
                binding: 0,
                resource: sink.as_entire_binding(),
            }],
        });
        let calibration = EmptyKernel {
            pipeline,
            bind_group,
            timestamps: Timestamps::with_queries(opened, 4),
        };
        scopes.check(|| "could not build the dispatch-gap calibration kernel".into())?;
        Ok(calibration)
    }

    /// The device seconds of one pass of one dispatch and of one of
    /// [`MANY`], or `None` where the timestamps do not increase.
    fn passes(&self, opened: &Opened) -> Result<Option<(f64, f64)>> {
        let scopes = Scopes::push(opened);
        let mut encoder = opened
            .device
            .create_command_encoder(&::wgpu::CommandEncoderDescriptor {
                label: Some("dispatch-gap calibration"),
            });
        for (first_query, count) in [(0, 1), (2, MANY)] {
            let mut pass = encoder.begin_compute_pass(&::wgpu::ComputePassDescriptor {
                label: Some("dispatch-gap calibration"),
                timestamp_writes: Some(::wgpu::ComputePassTimestampWrites {
                    query_set: &self.timestamps.query_set,
                    beginning_of_pass_write_index: Some(first_query),
                    end_of_pass_write_index: Some(first_query + 1),
                }),
            });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.bind_group, &[]);
            for _ in 0..count {
                pass.dispatch_workgroups(1, 1, 1);
            }
        }
        let t = &self.timestamps;
        encoder.resolve_query_set(&t.query_set, 0..4, &t.resolve, 0);
        encoder.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, t.resolve.size());
        opened.queue.submit([encoder.finish()]);
        let ticks = read_ticks(opened, &t.readback)?;
        scopes.check(|| "running the dispatch-gap calibration".into())?;
        let seconds = |a: u64, b: u64| (b > a).then(|| (b - a) as f64 * t.period_ns * 1e-9);
        Ok(match ticks.as_slice() {
            [a, b, c, d] => seconds(*a, *b).zip(seconds(*c, *d)),
            _ => return Err(backend_error("the calibration gave no four timestamps")),
        })
    }

    /// The median gap of [`REPEATS`] calibrations, for a kernel of
    /// `dispatches` dispatches per iteration.
    pub(super) fn gap(&self, opened: &Opened, dispatches: u32) -> Result<Option<DispatchGap>> {
        let mut gaps: Vec<DispatchGap> = Vec::with_capacity(REPEATS);
        for _ in 0..REPEATS {
            if let Some((one, many)) = self.passes(opened)? {
                gaps.extend(DispatchGap::from_empty_kernel(
                    many,
                    one,
                    MANY as usize,
                    dispatches,
                ));
            }
        }
        gaps.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        Ok(gaps.get(gaps.len() / 2).copied())
    }
}
