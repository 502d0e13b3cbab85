//! What a launch asks of a device ([`Footprint`]) against what the device
//! allows ([`DeviceLimits`]), checked in one place ([`DeviceLimits::check`]).
//!
//! Each GPU backend reads its device's limits from its API (wgpu's
//! `Limits` of the adapter, OpenCL's device info) into a [`DeviceLimits`],
//! each limit under the API's own name, so that a refusal names the limit a
//! user can look up. The runner checks every job before it runs (and
//! `run --dry-run` shows the outcome); the backends check again in
//! `prepare`, so that no launch over a limit ever reaches a driver, where
//! it would fail with the driver's words or not at all.
//!
//! The launch is planned from the size alone ([`planned_launch`]):
//! [`Kernel::launch`] reads only the size and the seed of its inputs, so no
//! data is generated to plan a run. The workgroup memory of a footprint is
//! what the shader declares: for the plan (`crate::plan::footprint`) the
//! `var<workgroup>` variables of the kernel's WGSL, whose OpenCL C declares
//! the same `__local` arrays; in `prepare`, what the backend compiled.
//!
//! [`Kernel::launch`]: crate::kernel::Kernel::launch

use crate::error::{Error, Result};
pub use crate::error::{Limit, LimitExceeded, LimitKind};
use crate::kernel::{
    Binding, Buffers, Inputs, Launch, LaunchBuffer, MAX_GROUPS_PER_DIM, MAX_UNIFORM_BINDING_BYTES,
    Precision, SizeSpec,
};
use crate::kernels::RegisteredKernel;

/// What a device allows a launch. `None`: the API does not report or does
/// not impose that limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Workgroups per dispatch in each dimension.
    pub groups_per_dim: Option<Limit>,
    /// Invocations (work-items) of one workgroup in x, y and z.
    pub group_size: [Limit; 3],
    /// Invocations of one workgroup in all.
    pub invocations_per_group: Limit,
    /// Bytes of workgroup (shared, `__local`) memory one workgroup may use.
    pub workgroup_memory: Option<Limit>,
    /// Bytes of one buffer (allocation).
    pub buffer_bytes: Option<Limit>,
    /// Bytes of one storage binding (what one dispatch binds of a buffer:
    /// the whole buffer, or its window).
    pub binding_bytes: Option<Limit>,
    /// Bytes of every buffer of a launch together.
    pub total_memory: Option<Limit>,
    /// Storage buffers one launch may bind.
    pub storage_buffers: Option<Limit>,
    /// Bytes of one uniform (OpenCL `__constant`) binding.
    pub uniform_binding_bytes: Option<Limit>,
}

impl DeviceLimits {
    /// The limits every Vulkan and OpenCL device hetbench targets meets:
    /// WebGPU's defaults, which are Vulkan's required minima for compute
    /// (65,535 workgroups per dimension, 256 invocations, 16 KiB of
    /// workgroup memory, 64 KiB per uniform binding). Every manifest size
    /// must launch within them;
    /// memory is left to each device.
    pub fn portable() -> Self {
        DeviceLimits {
            groups_per_dim: Some(Limit::new(
                "max_compute_workgroups_per_dimension",
                MAX_GROUPS_PER_DIM as u64,
            )),
            group_size: [
                Limit::new("max_compute_workgroup_size_x", 256),
                Limit::new("max_compute_workgroup_size_y", 256),
                Limit::new("max_compute_workgroup_size_z", 64),
            ],
            invocations_per_group: Limit::new("max_compute_invocations_per_workgroup", 256),
            workgroup_memory: Some(Limit::new("max_compute_workgroup_storage_size", 16_384)),
            buffer_bytes: None,
            binding_bytes: Some(Limit::new(
                "max_storage_buffer_binding_size",
                crate::kernel::max_binding_bytes() as u64,
            )),
            total_memory: None,
            storage_buffers: Some(Limit::new("max_storage_buffers_per_shader_stage", 8)),
            uniform_binding_bytes: Some(Limit::new(
                "max_uniform_buffer_binding_size",
                MAX_UNIFORM_BINDING_BYTES,
            )),
        }
    }

    /// The first limit `footprint` exceeds, or `Ok`.
    pub fn check(&self, footprint: &Footprint) -> std::result::Result<(), LimitExceeded> {
        let over = |limit: Option<Limit>, value: u64, kind, what: &dyn Fn() -> String| match limit {
            Some(l) if value > l.value => Err(LimitExceeded {
                kind,
                what: what(),
                limit: l,
                value,
            }),
            _ => Ok(()),
        };
        for d in &footprint.dispatches {
            for (dim, &g) in d.groups.iter().enumerate() {
                over(
                    self.groups_per_dim,
                    u64::from(g),
                    LimitKind::Geometry,
                    &|| format!("dispatch '{}': workgroups in {}", d.entry, DIMS[dim]),
                )?;
            }
            for (dim, &s) in d.group_size.iter().enumerate() {
                over(
                    Some(self.group_size[dim]),
                    u64::from(s),
                    LimitKind::Geometry,
                    &|| format!("dispatch '{}': workgroup size in {}", d.entry, DIMS[dim]),
                )?;
            }
            over(
                Some(self.invocations_per_group),
                d.invocations(),
                LimitKind::Geometry,
                &|| format!("dispatch '{}': invocations per workgroup", d.entry),
            )?;
            over(
                self.workgroup_memory,
                d.workgroup_bytes,
                LimitKind::Geometry,
                &|| format!("dispatch '{}': bytes of workgroup memory", d.entry),
            )?;
        }
        over(
            self.storage_buffers,
            footprint.bindings.len() as u64,
            LimitKind::Geometry,
            &|| "storage buffers bound".into(),
        )?;
        for (name, bytes) in &footprint.bindings {
            over(self.binding_bytes, *bytes, LimitKind::Geometry, &|| {
                format!("bytes bound of buffer '{name}'")
            })?;
        }
        for (name, bytes) in &footprint.uniforms {
            over(
                self.uniform_binding_bytes,
                *bytes,
                LimitKind::Geometry,
                &|| format!("bytes bound of uniform buffer '{name}'"),
            )?;
        }
        for (name, bytes) in &footprint.buffers {
            over(self.buffer_bytes, *bytes, LimitKind::Memory, &|| {
                format!("bytes of buffer '{name}'")
            })?;
        }
        over(
            self.total_memory,
            footprint.total_bytes(),
            LimitKind::Memory,
            &|| "bytes of all buffers together".into(),
        )
    }
}

const DIMS: [&str; 3] = ["x", "y", "z"];

/// Bytes of `len` elements of `b`.
fn bytes(len: usize, b: &LaunchBuffer) -> u64 {
    (len as u64).saturating_mul(b.elem.size() as u64)
}

/// One dispatch of a footprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchFootprint {
    pub entry: &'static str,
    pub groups: [u32; 3],
    pub group_size: [u32; 3],
    /// Bytes of workgroup memory the entry point declares.
    pub workgroup_bytes: u64,
}

impl DispatchFootprint {
    pub fn invocations(&self) -> u64 {
        self.group_size.iter().map(|&s| u64::from(s)).product()
    }
}

/// What one launch of a kernel asks of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub dispatches: Vec<DispatchFootprint>,
    /// Each buffer's name and bytes, in the launch's precision.
    pub buffers: Vec<(&'static str, u64)>,
    /// Each storage buffer's name and the most bytes one dispatch binds of
    /// it (its largest window, or the whole buffer where a dispatch binds it
    /// whole).
    pub bindings: Vec<(&'static str, u64)>,
    /// Each uniform buffer's name and bytes (padded to 16), bound whole.
    pub uniforms: Vec<(&'static str, u64)>,
}

impl Footprint {
    /// The footprint of `launch` (in its precision) with the workgroup
    /// memory of each entry point from `workgroup`.
    pub fn of(launch: &Launch, workgroup: &[(String, u64)]) -> Self {
        Footprint {
            dispatches: launch
                .dispatches
                .iter()
                .map(|d| DispatchFootprint {
                    entry: d.entry,
                    groups: d.groups,
                    group_size: d.group_size,
                    workgroup_bytes: workgroup
                        .iter()
                        .find(|(e, _)| e == d.entry)
                        .map_or(0, |(_, b)| *b),
                })
                .collect(),
            buffers: launch
                .buffers
                .iter()
                .map(|b| (b.name, bytes(b.len, b)))
                .collect(),
            bindings: launch
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| b.binding == Binding::Storage)
                .map(|(i, b)| {
                    let bound = launch
                        .dispatches
                        .iter()
                        .map(|d| d.window(i).map_or(b.len, |w| w.len))
                        .max()
                        .unwrap_or(b.len);
                    (b.name, bytes(bound, b))
                })
                .collect(),
            uniforms: launch
                .buffers
                .iter()
                .filter(|b| b.binding == Binding::Uniform)
                .map(|b| (b.name, b.binding_bytes(b.len)))
                .collect(),
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.buffers.iter().map(|(_, b)| b).sum()
    }

    /// The dispatches as `groups x group size`, identical neighbours
    /// merged: `8 x [8x128x32 of 64x4x1]`.
    pub fn geometry(&self) -> String {
        let mut parts: Vec<(usize, String)> = Vec::new();
        for d in &self.dispatches {
            let [gx, gy, gz] = d.groups;
            let [sx, sy, sz] = d.group_size;
            let text = format!("{gx}x{gy}x{gz} of {sx}x{sy}x{sz}");
            match parts.last_mut() {
                Some((n, last)) if *last == text => *n += 1,
                _ => parts.push((1, text)),
            }
        }
        parts
            .into_iter()
            .map(|(n, t)| if n == 1 { t } else { format!("{n} x [{t}]") })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The launch of `kernel` at `size` in `precision`, planned from the size
/// and seed alone (no inputs generated).
pub fn planned_launch(
    kernel: &RegisteredKernel,
    size: &SizeSpec,
    precision: Precision,
    seed: u64,
) -> Result<Launch> {
    let shape_only = Inputs {
        size: size.clone(),
        seed,
        buffers: Buffers::default(),
    };
    Ok(kernel.kernel.launch(&shape_only)?.in_precision(precision))
}

/// `Ok` if `footprint` of `kernel` at `size` fits `limits` of `device`,
/// else the error that names them, the limit and the value.
pub fn check_launch(
    limits: &DeviceLimits,
    footprint: &Footprint,
    kernel: &str,
    size: &str,
    device: &str,
) -> Result<()> {
    limits
        .check(footprint)
        .map_err(|exceeded| Error::OverDeviceLimit {
            kernel: kernel.to_string(),
            size: size.to_string(),
            device: device.to_string(),
            exceeded: Box::new(exceeded),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Arg, Chunk, Dispatch, Window};
    use crate::kernels::Registry;
    use crate::plan::footprint;

    fn launch(groups: [u32; 3], group_size: [u32; 3], len: usize) -> Launch {
        Launch {
            buffers: vec![
                LaunchBuffer::input("hx", len),
                LaunchBuffer::output("chi2", len),
            ],
            params: vec![("n", Arg::U32(1))],
            dispatches: vec![Dispatch::new("kalman_fit", groups, group_size)],
        }
    }

    #[test]
    fn an_oversize_grid_is_refused_naming_kernel_size_limit_and_value() {
        let fp = Footprint::of(&launch([65_536, 1, 1], [64, 1, 1], 10), &[]);
        let err = check_launch(
            &DeviceLimits::portable(),
            &fp,
            "kalman_fit",
            "large",
            "wgpu0",
        )
        .unwrap_err();
        let Error::OverDeviceLimit { exceeded, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(exceeded.kind, LimitKind::Geometry);
        assert_eq!(exceeded.value, 65_536);
        assert_eq!(exceeded.limit.value, 65_535);
        let msg = err.to_string();
        for part in [
            "kalman_fit",
            "size large",
            "wgpu0",
            "max_compute_workgroups_per_dimension = 65535",
            "workgroups in x = 65536",
        ] {
            assert!(msg.contains(part), "'{part}' not in: {msg}");
        }
    }

    #[test]
    fn each_limit_is_named_when_exceeded() {
        let limits = DeviceLimits {
            buffer_bytes: Some(Limit::new("CL_DEVICE_MAX_MEM_ALLOC_SIZE", 1000)),
            total_memory: Some(Limit::new("CL_DEVICE_GLOBAL_MEM_SIZE", 1500)),
            ..DeviceLimits::portable()
        };
        let check = |l: &Launch, wg: u64| {
            limits
                .check(&Footprint::of(l, &[("kalman_fit".into(), wg)]))
                .map_err(|e| (e.kind, e.limit.name, e.value))
        };
        assert_eq!(
            check(&launch([65_535, 65_535, 1], [256, 1, 1], 100), 0),
            Ok(())
        );
        assert_eq!(
            check(&launch([1, 1, 1], [512, 1, 1], 100), 0),
            Err((LimitKind::Geometry, "max_compute_workgroup_size_x", 512))
        );
        assert_eq!(
            check(&launch([1, 1, 1], [16, 16, 2], 100), 0),
            Err((
                LimitKind::Geometry,
                "max_compute_invocations_per_workgroup",
                512
            ))
        );
        assert_eq!(
            check(&launch([1, 1, 1], [64, 1, 1], 100), 16_385),
            Err((
                LimitKind::Geometry,
                "max_compute_workgroup_storage_size",
                16_385
            ))
        );
        // Two buffers of 4-byte elements: 150 each is 600 bytes, 1200 together.
        assert_eq!(check(&launch([1, 1, 1], [64, 1, 1], 150), 0), Ok(()));
        assert_eq!(
            check(&launch([1, 1, 1], [64, 1, 1], 251), 0),
            Err((LimitKind::Memory, "CL_DEVICE_MAX_MEM_ALLOC_SIZE", 1004))
        );
        assert_eq!(
            check(&launch([1, 1, 1], [64, 1, 1], 200), 0),
            Err((LimitKind::Memory, "CL_DEVICE_GLOBAL_MEM_SIZE", 1600))
        );
    }

    /// A buffer bound in windows needs a binding of its largest window,
    /// not of the whole buffer; one dispatch binding it whole needs all.
    #[test]
    fn windows_bound_the_binding_not_the_buffer() {
        let limits = DeviceLimits {
            binding_bytes: Some(Limit::new("max_storage_buffer_binding_size", 1000)),
            ..DeviceLimits::portable()
        };
        let mut l = launch([1, 1, 1], [64, 1, 1], 400);
        let window = |offset| Chunk {
            windows: vec![
                Window {
                    buffer: 0,
                    offset,
                    len: 200,
                },
                Window {
                    buffer: 1,
                    offset,
                    len: 250,
                },
            ],
            params: vec![("n", Arg::U32(200))],
        };
        l.dispatches[0].chunk = Some(window(0));
        l.dispatches.push(l.dispatches[0].clone());
        l.dispatches[1].chunk = Some(window(200));
        let fp = Footprint::of(&l, &[]);
        assert_eq!(fp.buffers, vec![("hx", 1600), ("chi2", 1600)]);
        assert_eq!(fp.bindings, vec![("hx", 800), ("chi2", 1000)]);
        assert_eq!(limits.check(&fp), Ok(()));
        assert_eq!(
            l.dispatches[1].params(&l.params),
            vec![("n", Arg::U32(200))]
        );
        l.dispatches
            .push(Dispatch::new("kalman_fit", [1, 1, 1], [64, 1, 1]));
        let err = limits.check(&Footprint::of(&l, &[])).unwrap_err();
        assert_eq!(
            (err.kind, err.limit.name, err.value, err.what.as_str()),
            (
                LimitKind::Geometry,
                "max_storage_buffer_binding_size",
                1600,
                "bytes bound of buffer 'hx'"
            )
        );
    }

    /// A uniform buffer counts against the uniform binding limit, padded to
    /// 16 bytes, and not against the storage buffers or their binding limit.
    #[test]
    fn a_uniform_binding_has_its_own_limit() {
        let limits = DeviceLimits {
            binding_bytes: Some(Limit::new("max_storage_buffer_binding_size", 1000)),
            storage_buffers: Some(Limit::new("max_storage_buffers_per_shader_stage", 2)),
            ..DeviceLimits::portable()
        };
        let mut l = launch([1, 1, 1], [64, 1, 1], 10);
        l.buffers.push(LaunchBuffer::uniform("weights", 4389));
        let fp = Footprint::of(&l, &[]);
        assert_eq!(fp.uniforms, vec![("weights", 17_568)]);
        assert_eq!(fp.bindings, vec![("hx", 40), ("chi2", 40)]);
        assert_eq!(fp.buffers[2], ("weights", 17_556));
        assert_eq!(limits.check(&fp), Ok(()));
        l.buffers[2] = LaunchBuffer::uniform("weights", 16_385);
        let err = limits.check(&Footprint::of(&l, &[])).unwrap_err();
        assert_eq!(
            (err.kind, err.limit.name, err.value, err.what.as_str()),
            (
                LimitKind::Geometry,
                "max_uniform_buffer_binding_size",
                65_552,
                "bytes bound of uniform buffer 'weights'"
            )
        );
    }

    #[test]
    fn geometry_merges_identical_neighbours() {
        let mut l = launch([8, 128, 32], [64, 4, 1], 1);
        l.dispatches.push(l.dispatches[0].clone());
        l.dispatches
            .push(Dispatch::new("other", [1, 2, 3], [256, 1, 1]));
        assert_eq!(
            Footprint::of(&l, &[]).geometry(),
            "2 x [8x128x32 of 64x4x1], 1x2x3 of 256x1x1"
        );
    }

    /// Every manifest size of every kernel (`xlarge` included), in every
    /// precision, launches within the portable limits, and the launch
    /// planned from the size alone is the one its generated inputs give
    /// (checked at `tiny`).
    #[test]
    fn every_manifest_size_fits_the_portable_limits() {
        let reg = Registry::builtin().unwrap();
        let portable = DeviceLimits::portable();
        for k in &reg.kernels {
            for name in k.manifest.size_names() {
                let size = k.size(&name).unwrap();
                for &p in &k.manifest.precisions {
                    let launch = planned_launch(k, &size, p, 42).unwrap();
                    let fp = footprint(k, &launch, p).unwrap();
                    if let Err(e) = portable.check(&fp) {
                        panic!("{} {name} {}: {e}", k.name(), p.as_str());
                    }
                }
            }
            let tiny = k.size("tiny").unwrap();
            let inputs = k.kernel.generate(&tiny, 42).unwrap();
            let precision = k.manifest.default_precision();
            assert_eq!(
                planned_launch(k, &tiny, precision, 42).unwrap(),
                k.kernel.launch(&inputs).unwrap().in_precision(precision),
                "{}",
                k.name()
            );
        }
    }

    #[test]
    fn workgroup_memory_follows_the_precision() {
        let reg = Registry::builtin().unwrap();
        let gemm = reg.get("gemm").unwrap();
        let size = gemm.size("tiny").unwrap();
        let bytes = |p| {
            let l = planned_launch(gemm, &size, p, 1).unwrap();
            footprint(gemm, &l, p).unwrap().dispatches[0].workgroup_bytes
        };
        // Two tiles of 1024 reals.
        assert_eq!(bytes(Precision::F32), 2 * 1024 * 4);
        assert_eq!(bytes(Precision::F64), 2 * 1024 * 8);
    }
}
