//! The wgpu backend: the kernels' WGSL compute shaders on every adapter wgpu
//! finds (Vulkan, Metal, DX12, GL), Mesa's lavapipe included.
//!
//! # Devices
//!
//! [`WgpuBackend::new`] enumerates every adapter of the native APIs (or of the
//! APIs named in `WGPU_BACKEND`), so that a node with several GPUs lists them
//! all as `wgpu0`, `wgpu1`, ... A GL adapter that duplicates a device already
//! reached through a better API (same name) is dropped. The device type goes
//! through [`DeviceType::correct`]: lavapipe/llvmpipe is a CPU, whatever the
//! API says. The logical device of an adapter is created once, on first use,
//! with the adapter's own limits (so that large buffers work) and
//! `TIMESTAMP_QUERY` where the adapter has it, and then shared by every
//! kernel prepared on it: creating a device is expensive.
//!
//! # Why everything is built in `prepare`
//!
//! The timed loop must measure the kernel, not the driver. Shader
//! compilation, pipeline creation, buffer allocation and upload, the bind
//! group, the read-back (staging) buffers and the timestamp query set are all
//! built in [`Backend::prepare`], which also waits for the uploads to land.
//! [`Prepared::run`] only encodes `iters` iterations of the dispatches into
//! one compute pass, submits it and waits. wgpu puts a barrier between
//! dispatches that write the same storage buffer, so iterations run one after
//! the other, as separate kernel launches would.
//!
//! # Device time
//!
//! Where the adapter has `TIMESTAMP_QUERY`, the pass writes a timestamp at
//! its beginning and at its end; the two are resolved into a buffer and
//! copied to a mappable one in the same submission, and read after the host
//! clock has stopped, so the read-back is not in `host_s`. Ticks become
//! seconds through `Queue::get_timestamp_period`. Without the feature (or
//! when the timestamps are not increasing, which some drivers do for very
//! short passes), `device_s` is `None` and host wall time is all there is;
//! the measurement then says so ([`DeviceClock::Unavailable`]). The gap
//! between dispatches is calibrated with an empty kernel (`gap`).
//! `end_to_end` writes inputs through mappable upload buffers built once.
//!
//! # Shaders and errors
//!
//! The WGSL is first parsed and validated by the naga that wgpu re-exports,
//! so that a broken shader is reported with its origin (file), line and
//! column. The module is then created without runtime bounds checks: our
//! shaders guard every index themselves, and verification of every result
//! guards correctness. wgpu errors are caught with error scopes and returned
//! as [`Error::Backend`]; a kernel with no WGSL source or an out-of-memory
//! allocation is [`Error::Unsupported`], so the result is recorded as
//! skipped. A launch over the device's limits (workgroups, workgroup size
//! and memory, storage bindings) is refused before anything is created, by
//! the check in [`crate::backends::limits`] over the adapter's `Limits`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::backends::limits::{self, DeviceLimits, Footprint, Limit};
use crate::backends::{
    Backend, BackendKind, Device, DeviceClock, DeviceType, Prepared, Timing, Unavailable,
};
use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Binding, Buffer, Buffers, Dispatch, Elem, Inputs, Launch, Precision, Role, ShaderLanguage,
    ShaderSource,
};
use crate::kernels::RegisteredKernel;
use crate::measure::DispatchGap;

mod gap;

const BACKEND: &str = "wgpu";

fn backend_error(message: impl Into<String>) -> Error {
    Error::Backend {
        backend: BACKEND.into(),
        message: message.into(),
    }
}

fn unsupported(message: impl Into<String>) -> Error {
    Error::Unsupported {
        backend: BACKEND.into(),
        message: message.into(),
    }
}

/// One adapter and, once created, its logical device.
struct AdapterSlot {
    device: Device,
    adapter: ::wgpu::Adapter,
    opened: Mutex<Option<Opened>>,
}

/// A logical device and its queue, shared by every kernel prepared on it.
#[derive(Clone)]
struct Opened {
    device: ::wgpu::Device,
    queue: ::wgpu::Queue,
    /// Errors no error scope caught (they would otherwise panic).
    uncaptured: Arc<Mutex<Vec<String>>>,
}

pub struct WgpuBackend {
    slots: Vec<AdapterSlot>,
}

/// The APIs enumerated: `WGPU_BACKEND` (e.g. `vulkan,gl`) where set, else
/// every native one.
fn backends() -> ::wgpu::Backends {
    ::wgpu::Backends::from_env().unwrap_or(
        ::wgpu::Backends::VULKAN
            | ::wgpu::Backends::METAL
            | ::wgpu::Backends::DX12
            | ::wgpu::Backends::GL,
    )
}

fn api_name(backend: ::wgpu::Backend) -> &'static str {
    match backend {
        ::wgpu::Backend::Vulkan => "Vulkan",
        ::wgpu::Backend::Metal => "Metal",
        ::wgpu::Backend::Dx12 => "DX12",
        ::wgpu::Backend::Gl => "GL",
        ::wgpu::Backend::BrowserWebGpu => "WebGPU",
        ::wgpu::Backend::Noop => "noop",
    }
}

fn device_type(reported: ::wgpu::DeviceType) -> DeviceType {
    match reported {
        ::wgpu::DeviceType::DiscreteGpu => DeviceType::DiscreteGpu,
        ::wgpu::DeviceType::IntegratedGpu => DeviceType::IntegratedGpu,
        ::wgpu::DeviceType::VirtualGpu => DeviceType::VirtualGpu,
        ::wgpu::DeviceType::Cpu => DeviceType::Cpu,
        ::wgpu::DeviceType::Other => DeviceType::Other,
    }
}

/// Whether `gl`'s adapter is a device some non-GL adapter already reaches:
/// GL names often extend the Vulkan one (`.../PCIe/SSE2`).
fn duplicates(gl: &::wgpu::AdapterInfo, other: &::wgpu::AdapterInfo) -> bool {
    let (a, b) = (gl.name.trim(), other.name.trim());
    !a.is_empty() && !b.is_empty() && (a.starts_with(b) || b.starts_with(a))
}

impl WgpuBackend {
    pub fn new() -> std::result::Result<Self, Unavailable> {
        let mut desc = ::wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends();
        let instance = ::wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends()));
        let infos: Vec<::wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        let mut slots = Vec::new();
        for (i, adapter) in adapters.into_iter().enumerate() {
            let info = &infos[i];
            if info.backend == ::wgpu::Backend::Gl
                && infos
                    .iter()
                    .any(|o| o.backend != ::wgpu::Backend::Gl && duplicates(info, o))
            {
                continue;
            }
            let driver = format!("{} {}", info.driver.trim(), info.driver_info.trim())
                .trim()
                .to_string();
            let driver = if driver.is_empty() {
                "unknown driver".to_string()
            } else {
                driver
            };
            let device_type =
                DeviceType::correct(device_type(info.device_type), &info.name, &driver);
            let compute_units = if device_type == DeviceType::Cpu {
                // lavapipe runs LP_NUM_THREADS threads, by default one per CPU.
                std::env::var("LP_NUM_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| {
                        std::thread::available_parallelism()
                            .map(|n| n.get() as u32)
                            .unwrap_or(1)
                    })
            } else {
                // wgpu does not report compute units.
                0
            };
            slots.push(AdapterSlot {
                device: Device {
                    backend: BackendKind::Wgpu,
                    id: format!("wgpu{}", slots.len()),
                    name: info.name.clone(),
                    device_type,
                    driver,
                    api: api_name(info.backend).to_string(),
                    compute_units,
                    // wgpu has no query for it.
                    last_level_cache_bytes: None,
                },
                adapter,
                opened: Mutex::new(None),
            });
        }
        if slots.is_empty() {
            return Err(Unavailable {
                reason: format!(
                    "no Vulkan/Metal/DX12/GL adapter found (APIs tried: {:?}): install a GPU \
                     driver or Mesa's lavapipe (Debian: mesa-vulkan-drivers)",
                    backends()
                ),
            });
        }
        Ok(WgpuBackend { slots })
    }

    /// The adapter of `device`.
    fn slot(&self, device: &Device) -> Result<&AdapterSlot> {
        self.slots
            .iter()
            .find(|s| s.device.id == device.id)
            .ok_or_else(|| {
                backend_error(format!(
                    "no device '{}' (devices: {})",
                    device.id,
                    self.slots
                        .iter()
                        .map(|s| s.device.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The logical device of `slot`, created on first use.
    fn open(slot: &AdapterSlot) -> Result<Opened> {
        let mut opened = slot
            .opened
            .lock()
            .map_err(|_| backend_error("device cache lock poisoned"))?;
        if let Some(o) = opened.as_ref() {
            return Ok(o.clone());
        }
        // Timestamps for device time; f64 shaders where the adapter has them.
        let features = slot.adapter.features()
            & (::wgpu::Features::TIMESTAMP_QUERY | ::wgpu::Features::SHADER_F64);
        let desc = ::wgpu::DeviceDescriptor {
            label: Some("hetbench"),
            required_features: features,
            required_limits: slot.adapter.limits(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(slot.adapter.request_device(&desc)).map_err(|e| {
                backend_error(format!(
                    "could not open {} ({}): {e}",
                    slot.device.id, slot.device.name
                ))
            })?;
        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: ::wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        let o = Opened {
            device,
            queue,
            uncaptured,
        };
        *opened = Some(o.clone());
        Ok(o)
    }
}

/// Error scopes for every filter, popped together.
struct Scopes<'a> {
    opened: &'a Opened,
    guards: Vec<::wgpu::ErrorScopeGuard>,
}

/// What an error scope caught.
enum Caught {
    OutOfMemory(String),
    Other(String),
}

impl<'a> Scopes<'a> {
    fn push(opened: &'a Opened) -> Self {
        let guards = [
            ::wgpu::ErrorFilter::Validation,
            ::wgpu::ErrorFilter::OutOfMemory,
            ::wgpu::ErrorFilter::Internal,
        ]
        .into_iter()
        .map(|f| opened.device.push_error_scope(f))
        .collect();
        Scopes { opened, guards }
    }

    /// The first error caught, if any (uncaptured ones included).
    fn pop(mut self) -> Option<Caught> {
        let mut first = None;
        while let Some(guard) = self.guards.pop() {
            if let Some(e) = pollster::block_on(guard.pop()) {
                let caught = match e {
                    ::wgpu::Error::OutOfMemory { .. } => Caught::OutOfMemory(e.to_string()),
                    ::wgpu::Error::Validation { description, .. }
                    | ::wgpu::Error::Internal { description, .. } => Caught::Other(description),
                };
                first.get_or_insert(caught);
            }
        }
        if first.is_none()
            && let Ok(mut v) = self.opened.uncaptured.lock()
            && !v.is_empty()
        {
            first = Some(Caught::Other(v.join("\n")));
            v.clear();
        }
        first
    }

    /// `Ok` if nothing was caught, else an error saying `what` failed.
    fn check(self, what: impl FnOnce() -> String) -> Result<()> {
        match self.pop() {
            None => Ok(()),
            Some(Caught::OutOfMemory(m)) => Err(unsupported(format!("{}: {m}", what()))),
            Some(Caught::Other(m)) => Err(backend_error(format!("{}: {m}", what()))),
        }
    }
}

/// Parses and validates `shader` with naga, so that errors name the file,
/// line and column.
fn validate_wgsl(
    shader: &ShaderSource,
) -> Result<(::wgpu::naga::Module, ::wgpu::naga::valid::ModuleInfo)> {
    use ::wgpu::naga;
    let module = naga::front::wgsl::parse_str(&shader.text).map_err(|e| {
        backend_error(format!(
            "WGSL compile error in {}:\n{}",
            shader.origin,
            e.emit_to_string_with_path(&shader.text, &shader.origin)
                .trim_end()
        ))
    })?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| {
        backend_error(format!(
            "WGSL validation error in {}:\n{}",
            shader.origin,
            e.emit_to_string_with_path(&shader.text, &shader.origin)
                .trim_end()
        ))
    })?;
    Ok((module, info))
}

/// Checks the launch's entry points against the shader: each must exist, be
/// a compute entry point and have the launch's workgroup size.
fn check_entries(module: &::wgpu::naga::Module, launch: &Launch, origin: &str) -> Result<()> {
    for d in &launch.dispatches {
        let ep = module
            .entry_points
            .iter()
            .find(|ep| ep.name == d.entry)
            .ok_or_else(|| {
                let names: Vec<&str> = module
                    .entry_points
                    .iter()
                    .map(|e| e.name.as_str())
                    .collect();
                backend_error(format!(
                    "{origin}: no entry point '{}' (the shader has: {})",
                    d.entry,
                    names.join(", ")
                ))
            })?;
        if ep.stage != ::wgpu::naga::ShaderStage::Compute {
            return Err(backend_error(format!(
                "{origin}: entry point '{}' is not a @compute shader",
                d.entry
            )));
        }
        if ep.workgroup_size != d.group_size {
            return Err(backend_error(format!(
                "{origin}: entry point '{}' has @workgroup_size{:?} but the launch expects {:?}",
                d.entry, ep.workgroup_size, d.group_size
            )));
        }
    }
    Ok(())
}

/// What a device with `limits` allows a launch, under wgpu's names.
fn device_limits(limits: &::wgpu::Limits) -> DeviceLimits {
    DeviceLimits {
        groups_per_dim: Some(Limit::new(
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension.into(),
        )),
        group_size: [
            Limit::new(
                "max_compute_workgroup_size_x",
                limits.max_compute_workgroup_size_x.into(),
            ),
            Limit::new(
                "max_compute_workgroup_size_y",
                limits.max_compute_workgroup_size_y.into(),
            ),
            Limit::new(
                "max_compute_workgroup_size_z",
                limits.max_compute_workgroup_size_z.into(),
            ),
        ],
        invocations_per_group: Limit::new(
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup.into(),
        ),
        workgroup_memory: Some(Limit::new(
            "max_compute_workgroup_storage_size",
            limits.max_compute_workgroup_storage_size.into(),
        )),
        buffer_bytes: Some(Limit::new("max_buffer_size", limits.max_buffer_size)),
        binding_bytes: Some(Limit::new(
            "max_storage_buffer_binding_size",
            limits.max_storage_buffer_binding_size,
        )),
        // wgpu does not report a device's memory.
        total_memory: None,
        storage_buffers: Some(Limit::new(
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage.into(),
        )),
        uniform_binding_bytes: Some(Limit::new(
            "max_uniform_buffer_binding_size",
            limits.max_uniform_buffer_binding_size,
        )),
    }
}

/// Refuses what [`DeviceLimits`] does not cover: the uniform parameters
/// and the bindings of the one bind group.
fn check_bindings(launch: &Launch, limits: &::wgpu::Limits) -> Result<()> {
    let count = launch.buffers.len() as u32;
    let uniform = uniform_bytes(&launch.params).len() as u64;
    if uniform > limits.max_uniform_buffer_binding_size {
        return Err(unsupported(format!(
            "the parameters need {uniform} bytes, over the device's \
             max_uniform_buffer_binding_size of {}",
            limits.max_uniform_buffer_binding_size
        )));
    }
    if count + 1 > limits.max_bindings_per_bind_group {
        return Err(unsupported(format!(
            "the launch needs {} bindings, over the device's max_bindings_per_bind_group of {}",
            count + 1,
            limits.max_bindings_per_bind_group
        )));
    }
    Ok(())
}

/// Bytes of workgroup memory (`var<workgroup>`) each entry point of
/// `shader` uses, by entry point name.
pub fn workgroup_memory(shader: &ShaderSource) -> Result<Vec<(String, u64)>> {
    let (module, info) = validate_wgsl(shader)?;
    module_workgroup_memory(&module, &info, &shader.origin)
}

/// [`workgroup_memory`] of a validated `module`.
fn module_workgroup_memory(
    module: &::wgpu::naga::Module,
    info: &::wgpu::naga::valid::ModuleInfo,
    origin: &str,
) -> Result<Vec<(String, u64)>> {
    let mut layouter = ::wgpu::naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).map_err(|e| {
        backend_error(format!(
            "{origin}: could not lay out the shader's types: {e}"
        ))
    })?;
    Ok(module
        .entry_points
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            let uses = info.get_entry_point(i);
            let bytes = module
                .global_variables
                .iter()
                .filter(|(h, g)| {
                    g.space == ::wgpu::naga::AddressSpace::WorkGroup && !uses[*h].is_empty()
                })
                .map(|(_, g)| u64::from(layouter[g.ty].size))
                .sum();
            (ep.name.clone(), bytes)
        })
        .collect())
}

/// The uniform struct: 4 bytes per parameter in order, padded to a multiple
/// of 16 bytes (at least 16).
fn uniform_bytes(params: &[(&'static str, Arg)]) -> Vec<u8> {
    let mut bytes: Vec<u8> = params.iter().flat_map(|(_, v)| v.to_le_bytes()).collect();
    let padded = bytes.len().div_ceil(16).max(1) * 16;
    bytes.resize(padded, 0);
    bytes
}

/// Bytes of a buffer of `len` elements of `elem`; wgpu needs a non-zero binding.
fn buffer_size(len: usize, elem: Elem) -> u64 {
    (len as u64 * elem.size() as u64).max(4)
}

impl Backend for WgpuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Wgpu
    }

    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        Ok(self.slots.iter().map(|s| s.device.clone()).collect())
    }

    fn limits(&self, device: &Device) -> Result<Option<DeviceLimits>> {
        // The logical device is opened with the adapter's own limits.
        Ok(Some(device_limits(&self.slot(device)?.adapter.limits())))
    }

    fn prepare(
        &self,
        kernel: &RegisteredKernel,
        device: &Device,
        inputs: &Inputs,
    ) -> Result<Box<dyn Prepared>> {
        let slot = self.slot(device)?;
        let shader = kernel.shader(ShaderLanguage::Wgsl).map_err(unsupported)?;
        // Inputs come in the run's precision; f64 needs the adapter's
        // SHADER_F64 and the shader's f64 variant.
        let precision = inputs.precision();
        if precision == Precision::F64
            && !slot
                .adapter
                .features()
                .contains(::wgpu::Features::SHADER_F64)
        {
            return Err(unsupported(format!(
                "{} ({}) lacks the SHADER_F64 feature: no f64 shaders",
                device.id, device.name
            )));
        }
        let shader = ShaderSource {
            origin: shader.origin.clone(),
            text: shader.wgsl_in_precision(precision)?,
        };
        let launch = kernel.kernel.launch(inputs)?.in_precision(precision);
        let (module, info) = validate_wgsl(&shader)?;
        check_entries(&module, &launch, &shader.origin)?;
        let footprint = Footprint::of(
            &launch,
            &module_workgroup_memory(&module, &info, &shader.origin)?,
        );
        let opened = Self::open(slot)?;
        let device_limits = opened.device.limits();
        limits::check_launch(
            &self::device_limits(&device_limits),
            &footprint,
            kernel.name(),
            &inputs.size.name,
            &device.id,
        )?;
        check_bindings(&launch, &device_limits)?;
        WgpuPrepared::build(opened, kernel.name(), &shader, launch, inputs)
            .map(|p| Box::new(p) as Box<dyn Prepared>)
    }
}

/// One launch buffer on the device.
struct DeviceBuffer {
    name: &'static str,
    role: Role,
    buffer: ::wgpu::Buffer,
    size: u64,
    /// Mappable copy target, for outputs.
    staging: Option<::wgpu::Buffer>,
    /// The host data, for inputs (re-uploaded by `end_to_end`).
    host: Option<Vec<u8>>,
    elem: Elem,
}

/// The bind groups of a launch: every buffer whole with the launch's
/// parameters, and one per chunked dispatch with its windows and its
/// parameters (each with a uniform buffer of its own).
struct BindGroups {
    /// `None` where every dispatch is chunked: a buffer over the device's
    /// binding could not be bound whole.
    whole: Option<::wgpu::BindGroup>,
    chunks: Vec<::wgpu::BindGroup>,
    /// For each dispatch, the index of its chunk's bind group, if chunked.
    of_dispatch: Vec<Option<usize>>,
}

impl BindGroups {
    fn build(
        device: &::wgpu::Device,
        layout: &::wgpu::BindGroupLayout,
        kernel: &str,
        launch: &Launch,
        buffers: &[DeviceBuffer],
    ) -> Result<Self> {
        let align = u64::from(device.limits().min_storage_buffer_offset_alignment);
        let whole = if launch.dispatches.iter().any(|d| d.chunk.is_none()) {
            Some(Self::group(
                device,
                layout,
                kernel,
                &launch.params,
                buffers,
                None,
            )?)
        } else {
            None
        };
        let mut chunks = Vec::new();
        let mut of_dispatch = Vec::with_capacity(launch.dispatches.len());
        for d in &launch.dispatches {
            if d.chunk.is_none() {
                of_dispatch.push(None);
                continue;
            }
            let windows = buffers
                .iter()
                .enumerate()
                .map(|(i, b)| window_binding(d, i, b, align))
                .collect::<Result<Vec<_>>>()?;
            let params = d.params(&launch.params);
            of_dispatch.push(Some(chunks.len()));
            chunks.push(Self::group(
                device,
                layout,
                d.entry,
                &params,
                buffers,
                Some(&windows),
            )?);
        }
        Ok(BindGroups {
            whole,
            chunks,
            of_dispatch,
        })
    }

    /// A bind group of `buffers` (whole, or in `windows`: byte offset and
    /// size per buffer) and a uniform holding `params`.
    fn group(
        device: &::wgpu::Device,
        layout: &::wgpu::BindGroupLayout,
        label: &str,
        params: &[(&'static str, Arg)],
        buffers: &[DeviceBuffer],
        windows: Option<&[Option<(u64, u64)>]>,
    ) -> Result<::wgpu::BindGroup> {
        use ::wgpu::util::DeviceExt;
        let uniform = device.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &uniform_bytes(params),
            usage: ::wgpu::BufferUsages::UNIFORM,
        });
        let mut entries: Vec<::wgpu::BindGroupEntry> = Vec::with_capacity(buffers.len() + 1);
        for (i, b) in buffers.iter().enumerate() {
            let resource = match windows.and_then(|w| w[i]) {
                Some((offset, size)) => ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                    buffer: &b.buffer,
                    offset,
                    size: ::std::num::NonZeroU64::new(size),
                }),
                None => b.buffer.as_entire_binding(),
            };
            entries.push(::wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            });
        }
        entries.push(::wgpu::BindGroupEntry {
            binding: buffers.len() as u32,
            resource: uniform.as_entire_binding(),
        });
        Ok(device.create_bind_group(&::wgpu::BindGroupDescriptor {
            label: Some(label),
            layout,
            entries: &entries,
        }))
    }
}

/// The byte offset and size dispatch `d` binds of buffer `index`, or
/// `None` for the whole buffer; an error if the window is not within the
/// buffer or its offset not a multiple of the device's alignment.
fn window_binding(
    d: &Dispatch,
    index: usize,
    b: &DeviceBuffer,
    align: u64,
) -> Result<Option<(u64, u64)>> {
    let Some(w) = d.window(index) else {
        return Ok(None);
    };
    let size = b.elem.size() as u64;
    let (offset, bytes) = (w.offset as u64 * size, (w.len as u64 * size).max(4));
    if offset + bytes > b.size.max(4) || (align > 0 && !offset.is_multiple_of(align)) {
        return Err(backend_error(format!(
            "dispatch '{}' binds bytes {offset}..{} of buffer '{}' ({} bytes): not within it, \
             or its offset not a multiple of min_storage_buffer_offset_alignment = {align}",
            d.entry,
            offset + bytes,
            b.name,
            b.size
        )));
    }
    Ok(Some((offset, bytes)))
}

/// Timestamp queries at the beginning and end of the pass.
struct Timestamps {
    query_set: ::wgpu::QuerySet,
    resolve: ::wgpu::Buffer,
    readback: ::wgpu::Buffer,
    /// Nanoseconds per tick.
    period_ns: f64,
}

struct WgpuPrepared {
    opened: Opened,
    label: String,
    pipelines: Vec<(::wgpu::ComputePipeline, [u32; 3])>,
    bind_groups: BindGroups,
    buffers: Vec<DeviceBuffer>,
    timestamps: Option<Timestamps>,
    /// Mappable upload buffers, one per input, built by the first
    /// `end_to_end` (outside its clock) and reused.
    uploads: Option<Vec<Option<::wgpu::Buffer>>>,
    /// The dispatch-gap calibration, built by the first `dispatch_gap`.
    gap_kernel: Option<gap::EmptyKernel>,
}

/// The shader module: naga has validated it already; the scope catches what
/// the device itself refuses (capabilities, backend compilation).
fn compile(opened: &Opened, shader: &ShaderSource) -> Result<::wgpu::ShaderModule> {
    let scopes = Scopes::push(opened);
    // SAFETY: our shaders guard every index they use (they are written
    // for ragged sizes), and every result is verified against a
    // reference; without runtime checks the loops compile as written.
    let module = unsafe {
        opened.device.create_shader_module_trusted(
            ::wgpu::ShaderModuleDescriptor {
                label: Some(&shader.origin),
                source: ::wgpu::ShaderSource::Wgsl(shader.text.as_str().into()),
            },
            ::wgpu::ShaderRuntimeChecks::unchecked(),
        )
    };
    scopes.check(|| format!("WGSL compile error in {}", shader.origin))?;
    Ok(module)
}

/// The bind group layout from the launch: inputs read-only storage (or
/// uniform, by their binding), outputs read-write storage, then the
/// uniform parameters.
fn layout_entries(launch: &Launch) -> Vec<::wgpu::BindGroupLayoutEntry> {
    let entry = |binding: usize, ty| ::wgpu::BindGroupLayoutEntry {
        binding: binding as u32,
        visibility: ::wgpu::ShaderStages::COMPUTE,
        ty: ::wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let mut entries: Vec<_> = launch
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| match b.binding {
            Binding::Uniform => entry(i, ::wgpu::BufferBindingType::Uniform),
            Binding::Storage => {
                let read_only = b.role == Role::Input;
                entry(i, ::wgpu::BufferBindingType::Storage { read_only })
            }
        })
        .collect();
    entries.push(entry(
        launch.buffers.len(),
        ::wgpu::BufferBindingType::Uniform,
    ));
    entries
}

/// The launch's device buffers: inputs uploaded (a uniform one padded with
/// zeros to its 16-byte array stride), outputs zeroed (wgpu
/// zero-initialises) with a staging buffer each for the read-back.
fn upload(device: &::wgpu::Device, launch: &Launch, inputs: &Inputs) -> Result<Vec<DeviceBuffer>> {
    use ::wgpu::util::DeviceExt;
    let usage = ::wgpu::BufferUsages::STORAGE
        | ::wgpu::BufferUsages::COPY_DST
        | ::wgpu::BufferUsages::COPY_SRC;
    let mut buffers = Vec::with_capacity(launch.buffers.len());
    for b in &launch.buffers {
        let size = buffer_size(b.len, b.elem);
        let usage = match b.binding {
            Binding::Storage => usage,
            Binding::Uniform => ::wgpu::BufferUsages::UNIFORM | ::wgpu::BufferUsages::COPY_DST,
        };
        let empty = |label, usage| {
            device.create_buffer(&::wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let (buffer, staging, host) = match b.role {
            Role::Input => {
                let data = inputs
                    .buffers
                    .get(b.name)
                    .ok_or_else(|| backend_error(format!("input '{}' is missing", b.name)))?;
                let mut data = b.bytes_of(data).map_err(backend_error)?.to_vec();
                data.resize(b.binding_bytes(b.len) as usize, 0);
                let buffer = if data.is_empty() {
                    empty(b.name, usage)
                } else {
                    device.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
                        label: Some(b.name),
                        contents: &data,
                        usage,
                    })
                };
                (buffer, None, Some(data))
            }
            Role::Output => {
                let read = ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST;
                (empty(b.name, usage), Some(empty(b.name, read)), None)
            }
        };
        buffers.push(DeviceBuffer {
            name: b.name,
            role: b.role,
            buffer,
            size: (b.len * b.elem.size()) as u64,
            staging,
            host,
            elem: b.elem,
        });
    }
    Ok(buffers)
}

impl Timestamps {
    /// A query set for the two timestamps of a pass, with its resolve and
    /// read-back buffers.
    fn new(opened: &Opened) -> Timestamps {
        Timestamps::with_queries(opened, 2)
    }

    /// A query set of `count` timestamps with its buffers.
    fn with_queries(opened: &Opened, count: u32) -> Timestamps {
        let device = &opened.device;
        let bytes = u64::from(count) * u64::from(::wgpu::QUERY_SIZE);
        let buffer = |label, usage| {
            device.create_buffer(&::wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Timestamps {
            query_set: device.create_query_set(&::wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: ::wgpu::QueryType::Timestamp,
                count,
            }),
            resolve: buffer(
                "timestamp resolve",
                ::wgpu::BufferUsages::QUERY_RESOLVE | ::wgpu::BufferUsages::COPY_SRC,
            ),
            readback: buffer(
                "timestamp readback",
                ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST,
            ),
            period_ns: f64::from(opened.queue.get_timestamp_period()),
        }
    }
}

impl WgpuPrepared {
    fn build(
        opened: Opened,
        kernel: &str,
        shader: &ShaderSource,
        launch: Launch,
        inputs: &Inputs,
    ) -> Result<Self> {
        let device = &opened.device;
        let module = compile(&opened, shader)?;
        let scopes = Scopes::push(&opened);
        let bgl = device.create_bind_group_layout(&::wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel),
            entries: &layout_entries(&launch),
        });
        let layout = device.create_pipeline_layout(&::wgpu::PipelineLayoutDescriptor {
            label: Some(kernel),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        let pipelines: Vec<_> = launch
            .dispatches
            .iter()
            .map(|d| {
                let pipeline = device.create_compute_pipeline(&::wgpu::ComputePipelineDescriptor {
                    label: Some(d.entry),
                    layout: Some(&layout),
                    module: &module,
                    entry_point: Some(d.entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
                (pipeline, d.groups)
            })
            .collect();
        scopes.check(|| {
            format!(
                "{}: could not create the compute pipelines ({}) with bindings 0..{} as the \
                 launch describes (inputs read-only storage, outputs read-write storage, \
                 parameters uniform at binding {})",
                shader.origin,
                launch
                    .dispatches
                    .iter()
                    .map(|d| d.entry)
                    .collect::<Vec<_>>()
                    .join(", "),
                launch.buffers.len(),
                launch.buffers.len()
            )
        })?;

        let scopes = Scopes::push(&opened);
        let buffers = upload(device, &launch, inputs)?;
        let bind_groups = BindGroups::build(device, &bgl, kernel, &launch, &buffers)?;
        let timestamps = device
            .features()
            .contains(::wgpu::Features::TIMESTAMP_QUERY)
            .then(|| Timestamps::new(&opened));
        // Flush the uploads now, so the first timed run does not carry them.
        opened.queue.submit([]);
        wait(device)?;
        scopes.check(|| format!("{kernel}: could not create the device buffers"))?;

        Ok(WgpuPrepared {
            opened,
            label: kernel.to_string(),
            pipelines,
            bind_groups,
            buffers,
            timestamps,
            uploads: None,
            gap_kernel: None,
        })
    }

    /// Records `iters` iterations of every dispatch into one compute pass.
    fn encode(&self, encoder: &mut ::wgpu::CommandEncoder, iters: u64, timed: bool) {
        let timestamp_writes = self.timestamps.as_ref().filter(|_| timed).map(|t| {
            ::wgpu::ComputePassTimestampWrites {
                query_set: &t.query_set,
                beginning_of_pass_write_index: Some(0),
                end_of_pass_write_index: Some(1),
            }
        });
        let mut pass = encoder.begin_compute_pass(&::wgpu::ComputePassDescriptor {
            label: Some(&self.label),
            timestamp_writes,
        });
        if let Some(whole) = &self.bind_groups.whole {
            pass.set_bind_group(0, whole, &[]);
        }
        if let ([(pipeline, [x, y, z])], []) = (
            self.pipelines.as_slice(),
            self.bind_groups.chunks.as_slice(),
        ) {
            pass.set_pipeline(pipeline);
            for _ in 0..iters {
                pass.dispatch_workgroups(*x, *y, *z);
            }
        } else {
            let groups = &self.bind_groups;
            for _ in 0..iters {
                for (i, (pipeline, [x, y, z])) in self.pipelines.iter().enumerate() {
                    // Chunked dispatches bind their own windows, the
                    // others the whole buffers.
                    match (groups.of_dispatch[i], &groups.whole) {
                        (Some(c), _) => pass.set_bind_group(0, &groups.chunks[c], &[]),
                        (None, Some(whole)) if !groups.chunks.is_empty() => {
                            pass.set_bind_group(0, whole, &[]);
                        }
                        _ => {}
                    }
                    pass.set_pipeline(pipeline);
                    pass.dispatch_workgroups(*x, *y, *z);
                }
            }
        }
    }

    /// Records copies of every output into its staging buffer.
    fn encode_read_back(&self, encoder: &mut ::wgpu::CommandEncoder) {
        for b in &self.buffers {
            if let Some(staging) = &b.staging
                && b.size > 0
            {
                encoder.copy_buffer_to_buffer(&b.buffer, 0, staging, 0, b.size);
            }
        }
    }

    /// Maps every staging buffer and copies the outputs to the host.
    fn map_outputs(&self) -> Result<Buffers> {
        let mut pending = Vec::new();
        for b in &self.buffers {
            if let Some(staging) = &b.staging
                && b.size > 0
            {
                let (tx, rx) = mpsc::channel();
                staging.map_async(::wgpu::MapMode::Read, 0..b.size, move |r| {
                    let _ = tx.send(r);
                });
                pending.push(rx);
            }
        }
        wait(&self.opened.device)?;
        for rx in pending {
            match rx.try_recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(backend_error(format!("could not map an output: {e}"))),
                Err(_) => return Err(backend_error("an output was not mapped after the wait")),
            }
        }
        let mut out = Buffers::default();
        for b in &self.buffers {
            if b.role != Role::Output {
                continue;
            }
            let values = match &b.staging {
                Some(staging) if b.size > 0 => {
                    let values = {
                        let view = staging.get_mapped_range(0..b.size).map_err(|e| {
                            backend_error(format!("could not read output '{}': {e}", b.name))
                        })?;
                        Buffer::from_bytes(b.elem, &view)
                    };
                    staging.unmap();
                    values
                }
                _ => Buffer::from_bytes(b.elem, &[]),
            };
            out.push(b.name, values);
        }
        Ok(out)
    }

    /// The pass's device seconds from the mapped timestamps, if increasing.
    fn read_timestamps(&self, t: &Timestamps) -> Result<Option<f64>> {
        let ticks = read_ticks(&self.opened, &t.readback)?;
        Ok(match ticks.as_slice() {
            [start, end, ..] if end > start => {
                Some((end - start) as f64 * t.period_ns * 1e-9).filter(|s| *s > 0.0)
            }
            _ => None,
        })
    }

    /// Copies every input's host data into its upload buffer (built once,
    /// the first time) and records the copies into the device buffers.
    fn stage_uploads(&mut self, encoder: &mut ::wgpu::CommandEncoder) -> Result<()> {
        let device = &self.opened.device;
        let uploads = self.uploads.get_or_insert_with(|| {
            self.buffers
                .iter()
                .map(|b| {
                    b.host.as_ref().filter(|h| !h.is_empty()).map(|h| {
                        device.create_buffer(&::wgpu::BufferDescriptor {
                            label: Some(b.name),
                            size: h.len() as u64,
                            usage: ::wgpu::BufferUsages::MAP_WRITE | ::wgpu::BufferUsages::COPY_SRC,
                            mapped_at_creation: false,
                        })
                    })
                })
                .collect()
        });
        let mut pending = Vec::new();
        for upload in uploads.iter().flatten() {
            let (tx, rx) = mpsc::channel();
            upload.map_async(::wgpu::MapMode::Write, .., move |r| {
                let _ = tx.send(r);
            });
            pending.push(rx);
        }
        wait(device)?;
        for rx in pending {
            match rx.try_recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(backend_error(format!("could not map an upload: {e}"))),
                Err(_) => return Err(backend_error("an upload was not mapped after the wait")),
            }
        }
        for (b, upload) in self.buffers.iter().zip(uploads.iter()) {
            if let (Some(upload), Some(host)) = (upload, &b.host) {
                upload
                    .get_mapped_range_mut(..)
                    .map_err(|e| {
                        backend_error(format!("could not write upload '{}': {e}", b.name))
                    })?
                    .copy_from_slice(host);
                upload.unmap();
                encoder.copy_buffer_to_buffer(upload, 0, &b.buffer, 0, host.len() as u64);
            }
        }
        Ok(())
    }
}

/// The ticks in a mapped timestamp read-back buffer, after the device is
/// idle.
fn read_ticks(opened: &Opened, readback: &::wgpu::Buffer) -> Result<Vec<u64>> {
    let (tx, rx) = mpsc::channel();
    readback.map_async(::wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    wait(&opened.device)?;
    match rx.try_recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(backend_error(format!("could not map timestamps: {e}"))),
        Err(_) => return Err(backend_error("timestamps were not mapped after the wait")),
    }
    let ticks = {
        let view = readback
            .get_mapped_range(..)
            .map_err(|e| backend_error(format!("could not read timestamps: {e}")))?;
        bytemuck::pod_collect_to_vec::<u8, u64>(&view)
    };
    readback.unmap();
    Ok(ticks)
}

/// Blocks until every submission on `device` has completed.
fn wait(device: &::wgpu::Device) -> Result<()> {
    device
        .poll(::wgpu::PollType::wait_indefinitely())
        .map(|_| ())
        .map_err(|e| backend_error(format!("waiting for the device failed: {e}")))
}

impl Prepared for WgpuPrepared {
    fn run(&mut self, iters: u64) -> Result<Timing> {
        let opened = self.opened.clone();
        let scopes = Scopes::push(&opened);
        let start = Instant::now();
        let mut encoder = opened
            .device
            .create_command_encoder(&::wgpu::CommandEncoderDescriptor {
                label: Some(&self.label),
            });
        self.encode(&mut encoder, iters, true);
        if let Some(t) = &self.timestamps {
            encoder.resolve_query_set(&t.query_set, 0..2, &t.resolve, 0);
            encoder.copy_buffer_to_buffer(&t.resolve, 0, &t.readback, 0, t.resolve.size());
        }
        let index = opened.queue.submit([encoder.finish()]);
        opened
            .device
            .poll(::wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| backend_error(format!("waiting for the kernel failed: {e}")))?;
        let host_s = start.elapsed().as_secs_f64();
        scopes.check(|| format!("running {}", self.label))?;
        let device_s = match &self.timestamps {
            Some(t) => self.read_timestamps(t)?,
            None => None,
        };
        Ok(Timing { host_s, device_s })
    }

    fn read_back(&mut self) -> Result<Buffers> {
        let opened = self.opened.clone();
        let scopes = Scopes::push(&opened);
        let mut encoder = opened
            .device
            .create_command_encoder(&::wgpu::CommandEncoderDescriptor {
                label: Some("read back"),
            });
        self.encode_read_back(&mut encoder);
        opened.queue.submit([encoder.finish()]);
        let out = self.map_outputs();
        scopes.check(|| format!("reading back the outputs of {}", self.label))?;
        out
    }

    /// Host seconds of: the inputs written into mappable upload buffers
    /// and copied to the device, one iteration, the outputs read back. The
    /// upload buffers are built once, before the first clock starts
    /// (`Queue::write_buffer` would allocate a staging buffer per call).
    fn end_to_end(&mut self) -> Result<Option<f64>> {
        let opened = self.opened.clone();
        if self.uploads.is_none() {
            let mut encoder = opened.device.create_command_encoder(&Default::default());
            self.stage_uploads(&mut encoder)?;
            opened.queue.submit([encoder.finish()]);
            wait(&opened.device)?;
        }
        let scopes = Scopes::push(&opened);
        let start = Instant::now();
        let mut encoder = opened
            .device
            .create_command_encoder(&::wgpu::CommandEncoderDescriptor {
                label: Some(&self.label),
            });
        self.stage_uploads(&mut encoder)?;
        self.encode(&mut encoder, 1, false);
        self.encode_read_back(&mut encoder);
        opened.queue.submit([encoder.finish()]);
        let outputs = self.map_outputs();
        let seconds = start.elapsed().as_secs_f64();
        scopes.check(|| format!("end-to-end run of {}", self.label))?;
        drop(outputs?);
        Ok(Some(seconds))
    }

    fn device_clock(&self) -> DeviceClock {
        if self.timestamps.is_some() {
            DeviceClock::Timestamps
        } else {
            DeviceClock::Unavailable
        }
    }

    /// By the empty-kernel calibration (see `gap`), where the adapter
    /// has timestamps.
    fn dispatch_gap(&mut self, _iters: u64) -> Result<Option<DispatchGap>> {
        if self.timestamps.is_none() {
            return Ok(None);
        }
        if self.gap_kernel.is_none() {
            self.gap_kernel = Some(gap::EmptyKernel::new(&self.opened)?);
        }
        let dispatches = self.pipelines.len() as u32;
        match &self.gap_kernel {
            Some(k) => k.gap(&self.opened, dispatches),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Arg, Param, SizeSpec};
    use crate::kernels::Registry;

    fn backend_or_skip() -> Option<WgpuBackend> {
        match WgpuBackend::new() {
            Ok(b) => Some(b),
            Err(u) => {
                println!("skipped: {}", u.reason);
                None
            }
        }
    }

    fn triad_inputs(kernel: &RegisteredKernel, n: i64) -> Inputs {
        let size = SizeSpec {
            name: "test".into(),
            params: [("n".to_string(), Param::Int(n))].into_iter().collect(),
            source: "test".into(),
        };
        kernel.kernel.generate(&size, 1).unwrap()
    }

    #[test]
    fn syntax_error_names_origin_and_line_without_a_device() {
        let shader = ShaderSource {
            origin: "test/broken.wgsl".into(),
            text: "// line 1\n@compute @workgroup_size(1)\nfn main( {\n}\n".into(),
        };
        let err = validate_wgsl(&shader).unwrap_err().to_string();
        assert!(err.contains("test/broken.wgsl:3:"), "{err}");
    }

    #[test]
    fn validation_error_names_origin_and_line() {
        let shader = ShaderSource {
            origin: "test/bad_type.wgsl".into(),
            text: "@compute @workgroup_size(1)\nfn main() {\n  let x: u32 = 1.5;\n}\n".into(),
        };
        let err = validate_wgsl(&shader).unwrap_err().to_string();
        assert!(err.contains("test/bad_type.wgsl:3:"), "{err}");
    }

    #[test]
    fn builtin_shaders_validate() {
        let reg = Registry::builtin().unwrap();
        for k in &reg.kernels {
            validate_wgsl(k.shader(ShaderLanguage::Wgsl).unwrap()).unwrap();
        }
    }

    #[test]
    fn limits_carry_wgpu_names_and_values() {
        let limits = device_limits(&::wgpu::Limits::default());
        assert_eq!(
            limits.groups_per_dim,
            Some(Limit::new("max_compute_workgroups_per_dimension", 65_535))
        );
        assert_eq!(limits.invocations_per_group.value, 256);
        assert_eq!(
            limits.binding_bytes,
            Some(Limit::new("max_storage_buffer_binding_size", 128 << 20))
        );
        assert_eq!(
            limits.buffer_bytes,
            Some(Limit::new("max_buffer_size", 256 << 20))
        );
        assert_eq!(
            limits,
            DeviceLimits {
                buffer_bytes: limits.buffer_bytes,
                total_memory: None,
                ..DeviceLimits::portable()
            }
        );
    }

    #[test]
    fn workgroup_memory_counts_what_each_entry_point_uses() {
        let shader = ShaderSource {
            origin: "test/shared.wgsl".into(),
            text: "var<workgroup> a: array<f32, 100>;\n\
                   var<workgroup> b: array<vec4<f32>, 8>;\n\
                   @compute @workgroup_size(1) fn one() { a[0] = 1.0; }\n\
                   @compute @workgroup_size(1) fn both() { a[0] = b[1].x; }\n\
                   @compute @workgroup_size(1) fn none() {}\n"
                .into(),
        };
        assert_eq!(
            workgroup_memory(&shader).unwrap(),
            vec![
                ("one".to_string(), 400),
                ("both".to_string(), 528),
                ("none".to_string(), 0)
            ]
        );
    }

    #[test]
    fn uniform_is_padded_to_16_bytes() {
        let launch = Launch {
            buffers: Vec::new(),
            params: vec![("n", Arg::U32(7)), ("s", Arg::F32(2.0))],
            dispatches: Vec::new(),
        };
        let bytes = uniform_bytes(&launch.params);
        assert_eq!(bytes.len(), 16);
        assert_eq!(&bytes[..4], &7u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &2.0f32.to_le_bytes());
    }

    #[test]
    fn software_adapters_are_cpus() {
        let Some(backend) = backend_or_skip() else {
            return;
        };
        let devices = backend.devices().unwrap();
        assert!(!devices.is_empty());
        for (i, d) in devices.iter().enumerate() {
            assert_eq!(d.id, format!("wgpu{i}"));
            let text = format!("{} {}", d.name, d.driver).to_ascii_lowercase();
            if text.contains("llvmpipe") || text.contains("lavapipe") {
                assert_eq!(d.device_type, DeviceType::Cpu, "{d:?}");
            }
        }
    }

    #[test]
    fn broken_shader_fails_prepare_with_origin_and_line() {
        let Some(backend) = backend_or_skip() else {
            return;
        };
        let mut reg = Registry::builtin().unwrap();
        let mut kernel = reg.kernels.remove(0);
        let inputs = triad_inputs(&kernel, 1000);
        kernel.wgsl = Some(ShaderSource {
            origin: "test/triad_broken.wgsl".into(),
            text: "struct Params { n: u32, s: f32 }\n\nfn triad( {\n".into(),
        });
        let device = backend.devices().unwrap().remove(0);
        let err = backend
            .prepare(&kernel, &device, &inputs)
            .err()
            .expect("a broken shader must not prepare")
            .to_string();
        assert!(err.contains("test/triad_broken.wgsl:3:"), "{err}");
    }

    #[test]
    fn triad_runs_and_times_on_every_device() {
        let Some(backend) = backend_or_skip() else {
            return;
        };
        let reg = Registry::builtin().unwrap();
        let kernel = reg.get("stream_triad").unwrap();
        let inputs = triad_inputs(kernel, 4099);
        for device in backend.devices().unwrap() {
            let mut p = backend.prepare(kernel, &device, &inputs).unwrap();
            let t = p.run(3).unwrap();
            assert!(t.host_s > 0.0);
            if let Some(d) = t.device_s {
                assert!(d > 0.0 && d.is_finite(), "{d}");
            }
            let out = p.read_back().unwrap();
            let verdict = kernel
                .kernel
                .verify(&inputs, &out, kernel.manifest.tolerance)
                .unwrap();
            assert!(verdict.passed, "{}: {}", device.id, verdict.detail);
            assert!(p.end_to_end().unwrap().is_some_and(|s| s > 0.0));
            assert_eq!(p.read_back().unwrap(), out);
        }
    }
}
