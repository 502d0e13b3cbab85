//! The OpenCL backend: OpenCL C kernels on every OpenCL platform and device.
//!
//! # Loading
//!
//! hetbench uses `opencl3` with its default `dynamic` feature: the OpenCL
//! ICD loader (`libOpenCL.so.1`, or the paths in `OPENCL_DYLIB_PATH`) is
//! opened with `dlopen` on first use, not linked at build time. The binary
//! therefore builds and starts on nodes without OpenCL, and
//! [`OpenClBackend::new`] says why the backend is unavailable there. A
//! missing loader cannot panic: `cl3` keeps the `dlopen` result in a
//! `OnceLock<Result<..>>` and every call returns the error code
//! `DLOPEN_RUNTIME_LOAD_FAILED` (-2000) instead, and every API entry point
//! is optional in its wrapper, so an old loader lacking one gives
//! `DLOPEN_FUNCTION_NOT_AVAILABLE` (-2001) rather than failing to load.
//!
//! The `ocl` crate is not used: it links `libOpenCL` at build time (so the
//! binary would not start where the library is missing) and depends on
//! unmaintained crates.
//!
//! # What is timed
//!
//! [`OpenClBackend::prepare`] does everything outside the timed loop: the
//! context, an in-order command queue with `CL_QUEUE_PROFILING_ENABLE`, the
//! program built from the kernel's OpenCL C source (with `-cl-std=CL1.2`
//! where the device supports it and no fast-math options, so arithmetic is
//! exact IEEE single precision), one kernel object per dispatch with its
//! arguments set, and the device buffers (inputs written, outputs zeroed).
//!
//! `run(iters)` enqueues `iters` iterations of every dispatch and waits with
//! `clFinish`. The host time is the wall time from the first enqueue to the
//! end of `clFinish`. The device time is `CL_PROFILING_COMMAND_START` of the
//! first kernel to `CL_PROFILING_COMMAND_END` of the last, on the device's
//! own clock: the device's wall time for the batch. It includes any idle
//! gaps between kernels (launch latency the device could not hide), which
//! summing each kernel's `END - START` would leave out and so flatter the
//! device; the first-to-last span is the honest figure a user of the device
//! gets for back-to-back launches, and it excludes the host's enqueue of the
//! first kernel and the return of `clFinish`. Only the first and last events
//! are kept, so long batches hold no event list.
//!
//! `end_to_end` times, on the host, blocking writes of every input, one
//! iteration and blocking reads of every output.
//!
//! # Limits
//!
//! A launch is checked against the device's `CL_DEVICE_*` limits (work-group
//! and work-item sizes, largest allocation, global memory) by
//! [`crate::backends::limits`] before a context is created, and against
//! `CL_DEVICE_LOCAL_MEM_SIZE` with each compiled kernel's
//! `CL_KERNEL_LOCAL_MEM_SIZE` once the program is built, with the kernel's
//! own `CL_KERNEL_WORK_GROUP_SIZE`; nothing is enqueued before.

use std::sync::Mutex;
use std::time::Instant;

use opencl3::command_queue::{CL_BLOCKING, CL_QUEUE_PROFILING_ENABLE, CommandQueue};
use opencl3::context::Context;
use opencl3::device::{
    CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU, CL_DEVICE_TYPE_GPU,
    Device as ClDevice,
};
use opencl3::error_codes::{
    CL_BUILD_PROGRAM_FAILURE, CL_PLATFORM_NOT_FOUND_KHR, ClError, DLOPEN_FUNCTION_NOT_AVAILABLE,
    DLOPEN_RUNTIME_LOAD_FAILED,
};
use opencl3::event::Event;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer as ClBuffer, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::platform::get_platforms;
use opencl3::program::Program;
use opencl3::types::{cl_device_id, cl_float, cl_uint};

use crate::backends::limits::{self, DeviceLimits, Footprint, Limit};
use crate::backends::{
    Backend, BackendKind, Device, DeviceClock, DeviceType, Prepared, Timing, Unavailable,
};
use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Dispatch, Elem, Inputs, Launch, Precision, Role, ShaderLanguage,
    ShaderSource,
};
use crate::kernels::RegisteredKernel;
use crate::measure::DispatchGap;

const BACKEND: &str = "opencl";

fn backend_err(message: impl Into<String>) -> Error {
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

/// `what` failed with the OpenCL error `e`, as a backend error.
fn cl_err(what: impl std::fmt::Display) -> impl FnOnce(ClError) -> Error {
    move |e| backend_err(format!("{what}: {e} ({})", e.0))
}

/// An OpenCL info string without the C terminator and padding drivers add.
fn clean(s: String) -> String {
    s.trim_end_matches('\0').trim().to_string()
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One device found at start-up and the handle to reach it.
struct Entry {
    device: Device,
    id: cl_device_id,
}

pub struct OpenClBackend {
    entries: Vec<Entry>,
}

impl OpenClBackend {
    /// Every device of every platform, `opencl0`, `opencl1`, ... in platform
    /// order then device order; or why there is none.
    pub fn new() -> std::result::Result<Self, Unavailable> {
        // PoCL 3 initialises its devices lazily inside clGetPlatformIDs and
        // answers a second thread's queries before that is done (a crash in
        // clGetDeviceInfo when two threads start at once): discover under a
        // process-wide lock. A poisoned lock only means another discovery
        // panicked; the driver state is still usable.
        static DISCOVERY: Mutex<()> = Mutex::new(());
        let _guard = DISCOVERY.lock().unwrap_or_else(|p| p.into_inner());
        let platforms = get_platforms().map_err(|e| Unavailable {
            reason: match e.0 {
                DLOPEN_RUNTIME_LOAD_FAILED => "no OpenCL loader (libOpenCL.so.1) found: install ocl-icd-libopencl1 and a driver, e.g. pocl-opencl-icd, or point OPENCL_DYLIB_PATH at the library".into(),
                DLOPEN_FUNCTION_NOT_AVAILABLE => "the OpenCL loader (libOpenCL.so.1) lacks clGetPlatformIDs: it is not a usable OpenCL library".into(),
                CL_PLATFORM_NOT_FOUND_KHR => "no OpenCL platform: the loader found no driver (ICD) in /etc/OpenCL/vendors; install one, e.g. pocl-opencl-icd".into(),
                _ => format!("no OpenCL platform: clGetPlatformIDs failed with {e} ({})", e.0),
            },
        })?;
        if platforms.is_empty() {
            return Err(Unavailable {
                reason: "no OpenCL platform: the loader found no driver (ICD) in /etc/OpenCL/vendors; install one, e.g. pocl-opencl-icd".into(),
            });
        }
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for platform in &platforms {
            let platform_name = clean(
                platform
                    .name()
                    .unwrap_or_else(|_| "unknown platform".into()),
            );
            let ids = match platform.get_devices(CL_DEVICE_TYPE_ALL) {
                Ok(ids) => ids,
                Err(e) => {
                    problems.push(format!("{platform_name}: clGetDeviceIDs failed with {e}"));
                    continue;
                }
            };
            if ids.is_empty() {
                problems.push(format!("{platform_name}: no devices"));
            }
            for id in ids {
                let index = entries.len();
                entries.push(Entry {
                    device: describe(id, index, &platform_name),
                    id,
                });
            }
        }
        if entries.is_empty() {
            return Err(Unavailable {
                reason: format!(
                    "no OpenCL device on {} platform(s): {}",
                    platforms.len(),
                    problems.join("; ")
                ),
            });
        }
        Ok(OpenClBackend { entries })
    }
}

/// The hetbench description of the OpenCL device `id`.
fn describe(id: cl_device_id, index: usize, platform_name: &str) -> Device {
    let dev = ClDevice::new(id);
    let name = clean(
        dev.name()
            .unwrap_or_else(|_| "unknown OpenCL device".into()),
    );
    let driver = format!(
        "{platform_name} {}",
        clean(dev.driver_version().unwrap_or_else(|_| "unknown".into()))
    );
    let api = clean(dev.version().unwrap_or_else(|_| "OpenCL".into()));
    let bits = dev.dev_type().unwrap_or(0);
    let reported = if name.to_ascii_lowercase().contains("fpga emulation") {
        DeviceType::FpgaEmulated
    } else if bits & CL_DEVICE_TYPE_GPU != 0 {
        // Deprecated since OpenCL 2.0 but still answered: the best portable
        // sign of a GPU sharing the host's memory.
        if dev.host_unified_memory().unwrap_or(false) {
            DeviceType::IntegratedGpu
        } else {
            DeviceType::DiscreteGpu
        }
    } else if bits & CL_DEVICE_TYPE_CPU != 0 {
        DeviceType::Cpu
    } else if bits & CL_DEVICE_TYPE_ACCELERATOR != 0 {
        DeviceType::Accelerator
    } else {
        DeviceType::Other
    };
    Device {
        backend: BackendKind::Opencl,
        id: format!("opencl{index}"),
        device_type: DeviceType::correct(reported, &name, &driver),
        name,
        driver,
        api,
        compute_units: dev.max_compute_units().unwrap_or(0),
        last_level_cache_bytes: dev.global_mem_cache_size().ok().filter(|&b| b > 0),
    }
}

impl OpenClBackend {
    fn entry(&self, device: &Device) -> Result<&Entry> {
        self.entries
            .iter()
            .find(|e| e.device.id == device.id)
            .ok_or_else(|| backend_err(format!("no device '{}'", device.id)))
    }
}

impl Backend for OpenClBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Opencl
    }

    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        Ok(self.entries.iter().map(|e| e.device.clone()).collect())
    }

    fn limits(&self, device: &Device) -> Result<Option<DeviceLimits>> {
        device_limits(&ClDevice::new(self.entry(device)?.id)).map(Some)
    }

    fn prepare(
        &self,
        kernel: &RegisteredKernel,
        device: &Device,
        inputs: &Inputs,
    ) -> Result<Box<dyn Prepared>> {
        let entry = self.entry(device)?;
        let source = kernel
            .shader(ShaderLanguage::OpenClC)
            .map_err(unsupported)?;
        let launch = kernel
            .kernel
            .launch(inputs)?
            .in_precision(inputs.precision());
        let check = Check {
            limits: device_limits(&ClDevice::new(entry.id))?,
            kernel: kernel.name(),
            size: &inputs.size.name,
            device: &device.id,
        };
        // Everything but local memory before anything is created; local
        // memory once the compiled kernels say what they use.
        check.run(&Footprint::of(&launch, &[]))?;
        Ok(Box::new(OpenClPrepared::new(
            entry, source, &launch, inputs, &check,
        )?))
    }
}

/// A launch's check against its device's limits, naming what it checks.
struct Check<'a> {
    limits: DeviceLimits,
    kernel: &'a str,
    size: &'a str,
    device: &'a str,
}

impl Check<'_> {
    fn run(&self, footprint: &Footprint) -> Result<()> {
        limits::check_launch(&self.limits, footprint, self.kernel, self.size, self.device)
    }
}

/// What `dev` allows a launch, under OpenCL's names. OpenCL has no limit on
/// the number of work-groups (only the global size's `size_t`) and none on
/// the number of buffer arguments.
fn device_limits(dev: &ClDevice) -> Result<DeviceLimits> {
    let items = dev
        .max_work_item_sizes()
        .map_err(cl_err("CL_DEVICE_MAX_WORK_ITEM_SIZES"))?;
    let item = |dim: usize| items.get(dim).map_or(1, |&v| v as u64);
    Ok(DeviceLimits {
        groups_per_dim: None,
        group_size: [
            Limit::new("CL_DEVICE_MAX_WORK_ITEM_SIZES[0]", item(0)),
            Limit::new("CL_DEVICE_MAX_WORK_ITEM_SIZES[1]", item(1)),
            Limit::new("CL_DEVICE_MAX_WORK_ITEM_SIZES[2]", item(2)),
        ],
        invocations_per_group: Limit::new(
            "CL_DEVICE_MAX_WORK_GROUP_SIZE",
            dev.max_work_group_size()
                .map_err(cl_err("CL_DEVICE_MAX_WORK_GROUP_SIZE"))? as u64,
        ),
        workgroup_memory: Some(Limit::new(
            "CL_DEVICE_LOCAL_MEM_SIZE",
            dev.local_mem_size()
                .map_err(cl_err("CL_DEVICE_LOCAL_MEM_SIZE"))?,
        )),
        buffer_bytes: Some(Limit::new(
            "CL_DEVICE_MAX_MEM_ALLOC_SIZE",
            dev.max_mem_alloc_size()
                .map_err(cl_err("CL_DEVICE_MAX_MEM_ALLOC_SIZE"))?,
        )),
        // A window is a sub-buffer: any part of an allocation binds.
        binding_bytes: None,
        total_memory: Some(Limit::new(
            "CL_DEVICE_GLOBAL_MEM_SIZE",
            dev.global_mem_size()
                .map_err(cl_err("CL_DEVICE_GLOBAL_MEM_SIZE"))?,
        )),
        storage_buffers: None,
        uniform_binding_bytes: Some(Limit::new(
            "CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE",
            dev.max_constant_buffer_size()
                .map_err(cl_err("CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE"))?,
        )),
    })
}

/// Build options for `dev`: `-cl-std=CL1.2` where its OpenCL C is 1.2 or
/// newer, none otherwise. Never fast-math: results must match the reference.
fn build_options(dev: &ClDevice) -> &'static str {
    let version = dev.opencl_c_version().unwrap_or_default();
    if version_at_least(&version, "OpenCL C ", (1, 2)) {
        "-cl-std=CL1.2"
    } else {
        ""
    }
}

/// Whether `text` of the form "<prefix><major>.<minor> <vendor text>" (as in
/// CL_DEVICE_VERSION and CL_DEVICE_OPENCL_C_VERSION) is at least `want`.
fn version_at_least(text: &str, prefix: &str, want: (u32, u32)) -> bool {
    text.trim()
        .strip_prefix(prefix)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| {
            let (major, minor) = v.split_once('.')?;
            Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
        })
        .is_some_and(|v| v >= want)
}

/// Compiles `source` for `device`; a failure names the source's origin and
/// carries the compiler's full build log.
fn build_program(
    context: &Context,
    device: cl_device_id,
    device_name: &str,
    source: &ShaderSource,
    options: &str,
) -> Result<Program> {
    let mut program = Program::create_from_source(context, &source.text).map_err(cl_err(
        format!("{}: clCreateProgramWithSource", source.origin),
    ))?;
    match program.build(&[device], options) {
        Ok(()) => Ok(program),
        Err(e) => {
            let log = program
                .get_build_log(device)
                .map(clean)
                .unwrap_or_else(|le| format!("(no build log: {le})"));
            let what = if e.0 == CL_BUILD_PROGRAM_FAILURE {
                "OpenCL C build failed"
            } else {
                "clBuildProgram failed"
            };
            Err(backend_err(format!(
                "{}: {what} on {device_name} ({e}, options '{options}'); build log:\n{log}",
                source.origin
            )))
        }
    }
}

/// One dispatch ready to enqueue.
struct ReadyDispatch {
    kernel: Kernel,
    /// The sub-buffers of the dispatch's windows, which its kernel's
    /// arguments name (dropped with it, before the buffers they are in).
    _windows: Vec<ClBuffer<cl_float>>,
    entry: &'static str,
    work_dim: cl_uint,
    global: [usize; 3],
    local: [usize; 3],
}

/// A device buffer of the launch and what it holds on the host.
struct DeviceBuffer {
    name: &'static str,
    role: Role,
    /// Length in 4-byte words (an f64 element is two).
    len: usize,
    /// Device memory; held as `cl_float` bits whatever `elem` says.
    buffer: ClBuffer<cl_float>,
    elem: Elem,
    /// The input's data (for `end_to_end`); empty for outputs.
    host: Vec<f32>,
}

// Fields drop in order: kernels and buffers before the program, queue and
// context they belong to.
struct OpenClPrepared {
    dispatches: Vec<ReadyDispatch>,
    buffers: Vec<DeviceBuffer>,
    /// Scratch for `end_to_end` reads, one per output, allocated once.
    scratch: Vec<Vec<f32>>,
    _program: Program,
    queue: CommandQueue,
    _context: Context,
}

/// A profiling command queue on `entry`'s device.
fn profiling_queue(context: &Context, entry: &Entry) -> Result<CommandQueue> {
    // clCreateCommandQueueWithProperties is OpenCL 2.0: a 1.x driver's
    // dispatch table may not have it, so use the 1.x entry point there.
    // SAFETY: `entry.id` is the device the context was created from.
    let queue = if version_at_least(&entry.device.api, "OpenCL ", (2, 0)) {
        unsafe {
            CommandQueue::create_with_properties(context, entry.id, CL_QUEUE_PROFILING_ENABLE, 0)
        }
    } else {
        #[allow(deprecated)]
        unsafe {
            CommandQueue::create(context, entry.id, CL_QUEUE_PROFILING_ENABLE)
        }
    }
    .map_err(cl_err("clCreateCommandQueue with profiling"))?;
    Ok(queue)
}

/// The launch's device buffers, inputs written and outputs zeroed.
fn upload(
    context: &Context,
    queue: &CommandQueue,
    launch: &Launch,
    inputs: &Inputs,
) -> Result<Vec<DeviceBuffer>> {
    let mut buffers = Vec::with_capacity(launch.buffers.len());
    for b in &launch.buffers {
        let flags = match b.role {
            Role::Input => CL_MEM_READ_ONLY,
            Role::Output => CL_MEM_READ_WRITE,
        };
        // Device memory counts 4-byte words (an f64 element is two).
        let words = b.len * b.elem.size() / 4;
        // A zero-sized buffer is invalid in OpenCL: allocate one element.
        // SAFETY: no host pointer is passed; the size is checked above.
        let buffer = unsafe {
            ClBuffer::<cl_float>::create(context, flags, words.max(1), std::ptr::null_mut())
        }
        .map_err(cl_err(format!(
            "clCreateBuffer '{}' of {}",
            b.name,
            mib(words as u64 * 4)
        )))?;
        let host = match b.role {
            Role::Input => {
                let data = inputs
                    .buffers
                    .get(b.name)
                    .ok_or_else(|| backend_err(format!("input '{}' is missing", b.name)))?;
                bytemuck::pod_collect_to_vec::<u8, f32>(b.bytes_of(data).map_err(backend_err)?)
            }
            Role::Output => Vec::new(),
        };
        buffers.push(DeviceBuffer {
            name: b.name,
            role: b.role,
            len: words,
            buffer,
            elem: b.elem,
            host,
        });
    }
    for b in &mut buffers {
        match b.role {
            Role::Input => write(queue, &mut b.buffer, &b.host, b.name)?,
            Role::Output => write(queue, &mut b.buffer, &vec![0.0; b.len], b.name)?,
        }
    }

    Ok(buffers)
}

/// A kernel's entry point and the bytes of local memory it uses.
type LocalMemory = (String, u64);

/// Each dispatch's kernel with its arguments set and its geometry, and
/// the local memory each kernel uses.
fn ready_dispatches(
    dev: &ClDevice,
    entry: &Entry,
    program: &Program,
    source: &ShaderSource,
    launch: &Launch,
    buffers: &[DeviceBuffer],
) -> Result<(Vec<ReadyDispatch>, Vec<LocalMemory>)> {
    let max_wg = dev
        .max_work_group_size()
        .map_err(cl_err("CL_DEVICE_MAX_WORK_GROUP_SIZE"))?;
    let mut dispatches = Vec::with_capacity(launch.dispatches.len());
    let mut local_memory = Vec::with_capacity(launch.dispatches.len());
    // CL_DEVICE_MEM_BASE_ADDR_ALIGN is in bits.
    let align = u64::from(
        dev.mem_base_addr_align()
            .map_err(cl_err("CL_DEVICE_MEM_BASE_ADDR_ALIGN"))?,
    ) / 8;
    for d in &launch.dispatches {
        let windows = windows(d, buffers, align)?;
        let kernel = make_kernel(
            program, &entry.id, source, launch, d, buffers, &windows, max_wg,
        )?;
        let bytes = kernel
            .get_local_mem_size(entry.id)
            .map_err(cl_err(format!("CL_KERNEL_LOCAL_MEM_SIZE of '{}'", d.entry)))?;
        local_memory.push((d.entry.to_string(), bytes));
        let (work_dim, global, local) = geometry(d);
        dispatches.push(ReadyDispatch {
            kernel,
            _windows: windows.into_iter().flatten().collect(),
            entry: d.entry,
            work_dim,
            global,
            local,
        });
    }
    Ok((dispatches, local_memory))
}

impl OpenClPrepared {
    fn new(
        entry: &Entry,
        source: &ShaderSource,
        launch: &Launch,
        inputs: &Inputs,
        check: &Check,
    ) -> Result<Self> {
        let dev = ClDevice::new(entry.id);
        let name = &entry.device.name;

        let context = Context::from_device(&dev).map_err(cl_err("clCreateContext"))?;
        let queue = profiling_queue(&context, entry)?;

        // Inputs come in the run's precision: f64 needs cl_khr_fp64 and the
        // source's f64 variant.
        let precision = inputs.precision();
        if precision == Precision::F64 {
            let fp64 = dev.double_fp_config().unwrap_or(0);
            if fp64 == 0 {
                return Err(unsupported(format!(
                    "{name} has no double precision (CL_DEVICE_DOUBLE_FP_CONFIG is 0)"
                )));
            }
        }
        let options = format!(
            "{} {}",
            build_options(&dev),
            source.opencl_options(precision)?
        );
        let program = build_program(&context, entry.id, name, source, options.trim())?;

        let buffers = upload(&context, &queue, launch, inputs)?;

        let (dispatches, local_memory) =
            ready_dispatches(&dev, entry, &program, source, launch, &buffers)?;
        check.run(&Footprint::of(launch, &local_memory))?;
        queue.finish().map_err(cl_err("clFinish after uploads"))?;

        let scratch = buffers
            .iter()
            .filter(|b| b.role == Role::Output)
            .map(|b| vec![0.0f32; b.len])
            .collect();
        Ok(OpenClPrepared {
            dispatches,
            buffers,
            scratch,
            _program: program,
            queue,
            _context: context,
        })
    }

    /// Enqueues one iteration, handing every kernel event to `span`.
    fn enqueue_iteration(&self, span: &mut EventSpan) -> Result<()> {
        for d in &self.dispatches {
            // SAFETY: the kernel, its buffers and the queue live in `self`;
            // the size arrays hold `work_dim` (at most 3) entries.
            let event = unsafe {
                self.queue.enqueue_nd_range_kernel(
                    d.kernel.get(),
                    d.work_dim,
                    std::ptr::null(),
                    d.global.as_ptr(),
                    d.local.as_ptr(),
                    &[],
                )
            }
            .map_err(cl_err(format!(
                "clEnqueueNDRangeKernel '{}' (global {:?}, local {:?})",
                d.entry, d.global, d.local
            )))?;
            span.push(event);
        }
        Ok(())
    }
}

/// The first and the last kernel event of a batch; those between are
/// released at once (the queue keeps what it still needs), or kept in
/// `all` for the dispatch gap.
#[derive(Default)]
struct EventSpan {
    first: Option<Event>,
    last: Option<Event>,
    /// Every event of the batch, where kept.
    all: Option<Vec<Event>>,
}

impl EventSpan {
    /// A span that keeps every event.
    fn keeping_all() -> EventSpan {
        EventSpan {
            all: Some(Vec::new()),
            ..EventSpan::default()
        }
    }

    fn push(&mut self, event: Event) {
        if let Some(all) = &mut self.all {
            all.push(event);
        } else if self.first.is_none() {
            self.first = Some(event);
        } else {
            self.last = Some(event);
        }
    }

    /// The idle device time between kept kernels: the span from the first
    /// START to the last END less the kernels' own durations.
    fn gap(&self, dispatches: u32) -> Option<DispatchGap> {
        let all = self.all.as_ref()?;
        let times: Vec<(u64, u64)> = all
            .iter()
            .map(|e| {
                Some((
                    e.profiling_command_start().ok()?,
                    e.profiling_command_end().ok()?,
                ))
            })
            .collect::<Option<_>>()?;
        let (first, last) = (times.first()?.0, times.last()?.1);
        let busy: u64 = times.iter().map(|(s, e)| e.saturating_sub(*s)).sum();
        let span = last.checked_sub(first)?;
        DispatchGap::from_span(
            span as f64 * 1e-9,
            busy as f64 * 1e-9,
            times.len(),
            dispatches,
        )
    }

    /// Seconds from the START of the first kernel to the END of the last,
    /// on the device's clock; `None` without kernels or a usable profile.
    fn device_seconds(&self) -> Option<f64> {
        let first = self.first.as_ref()?;
        let last = self.last.as_ref().unwrap_or(first);
        let start = first.profiling_command_start().ok()?;
        let end = last.profiling_command_end().ok()?;
        (end > start).then(|| (end - start) as f64 * 1e-9)
    }
}

/// Blocking write of `data` into `buffer`.
fn write(
    queue: &CommandQueue,
    buffer: &mut ClBuffer<cl_float>,
    data: &[f32],
    name: &str,
) -> Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: blocking, so `data` outlives the transfer; `buffer` holds at
    // least `data.len()` elements (it was created with the launch's length).
    unsafe { queue.enqueue_write_buffer(buffer, CL_BLOCKING, 0, data, &[]) }
        .map_err(cl_err(format!("clEnqueueWriteBuffer '{name}'")))?;
    Ok(())
}

/// Blocking read of `buffer` into `data`.
fn read(
    queue: &CommandQueue,
    buffer: &ClBuffer<cl_float>,
    data: &mut [f32],
    name: &str,
) -> Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    // SAFETY: blocking, so `data` outlives the transfer; `buffer` holds at
    // least `data.len()` elements.
    unsafe { queue.enqueue_read_buffer(buffer, CL_BLOCKING, 0, data, &[]) }
        .map_err(cl_err(format!("clEnqueueReadBuffer '{name}'")))?;
    Ok(())
}

/// Work dimensions, global and local sizes of `d`: global = groups *
/// group size in each dimension, as many dimensions as are used.
fn geometry(d: &Dispatch) -> (cl_uint, [usize; 3], [usize; 3]) {
    let mut global = [1usize; 3];
    let mut local = [1usize; 3];
    let mut work_dim = 1;
    for i in 0..3 {
        global[i] = d.groups[i] as usize * d.group_size[i] as usize;
        local[i] = d.group_size[i] as usize;
        if d.groups[i] > 1 || d.group_size[i] > 1 {
            work_dim = i as cl_uint + 1;
        }
    }
    (work_dim, global, local)
}

/// The sub-buffer of each window of dispatch `d`, by buffer (`None`: bound
/// whole); an error if a window is not within its buffer or its offset not
/// a multiple of the device's `align` bytes.
fn windows(
    d: &Dispatch,
    buffers: &[DeviceBuffer],
    align: u64,
) -> Result<Vec<Option<ClBuffer<cl_float>>>> {
    buffers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let Some(w) = d.window(i) else {
                return Ok(None);
            };
            // Device memory counts 4-byte words (an f64 element is two).
            let per = b.elem.size() / 4;
            let (origin, words) = (w.offset * per, (w.len * per).max(1));
            if origin + words > b.len.max(1)
                || (align > 0 && !(origin as u64 * 4).is_multiple_of(align))
            {
                return Err(backend_err(format!(
                    "dispatch '{}' binds words {origin}..{} of buffer '{}' ({} words): not \
                     within it, or its offset not a multiple of CL_DEVICE_MEM_BASE_ADDR_ALIGN \
                     ({align} bytes)",
                    d.entry,
                    origin + words,
                    b.name,
                    b.len
                )));
            }
            let flags = match b.role {
                Role::Input => CL_MEM_READ_ONLY,
                Role::Output => CL_MEM_READ_WRITE,
            };
            // SAFETY: the region is within the buffer (checked above).
            unsafe { b.buffer.create_sub_buffer(flags, origin, words) }
                .map(Some)
                .map_err(cl_err(format!(
                    "clCreateSubBuffer of '{}' for dispatch '{}'",
                    b.name, d.entry
                )))
        })
        .collect()
}

/// The kernel of dispatch `d` with every argument set: the launch buffers in
/// order (a window's sub-buffer where `d` binds one), then one scalar per
/// parameter (with `d`'s own values).
#[allow(clippy::too_many_arguments)]
fn make_kernel(
    program: &Program,
    device: &cl_device_id,
    source: &ShaderSource,
    launch: &Launch,
    d: &Dispatch,
    buffers: &[DeviceBuffer],
    windows: &[Option<ClBuffer<cl_float>>],
    device_max_wg: usize,
) -> Result<Kernel> {
    let kernel = Kernel::create(program, d.entry).map_err(|e| {
        backend_err(format!(
            "{}: no kernel '{}' ({e}); the program defines: {}",
            source.origin,
            d.entry,
            program.kernel_names()
        ))
    })?;
    let expected = launch.buffers.len() + launch.params.len();
    if let Ok(n) = kernel.num_args()
        && n as usize != expected
    {
        return Err(backend_err(format!(
            "{}: kernel '{}' takes {n} arguments but the launch passes {expected} ({} buffers, then {})",
            source.origin,
            d.entry,
            launch.buffers.len(),
            launch
                .params
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut index: cl_uint = 0;
    for (b, window) in buffers.iter().zip(windows) {
        let mem = opencl3::memory::ClMem::get(window.as_ref().unwrap_or(&b.buffer));
        // SAFETY: argument `index` is a `__global float*` (`__constant`
        // for a uniform binding: the same cl_mem argument) by the launch's
        // contract, and the argument count is checked above.
        unsafe { kernel.set_arg(index, &mem) }.map_err(cl_err(format!(
            "{}: kernel '{}' argument {index} (buffer '{}')",
            source.origin, d.entry, b.name
        )))?;
        index += 1;
    }
    for (name, value) in &d.params(&launch.params) {
        // SAFETY: a 4-byte scalar argument, as the launch's contract says.
        let set = match *value {
            Arg::U32(v) => unsafe { kernel.set_arg(index, &(v as cl_uint)) },
            Arg::F32(v) => unsafe { kernel.set_arg(index, &(v as cl_float)) },
        };
        set.map_err(cl_err(format!(
            "{}: kernel '{}' argument {index} (parameter '{name}' = {value:?})",
            source.origin, d.entry
        )))?;
        index += 1;
    }
    // The kernel's own limit can be below the device's (registers, local
    // memory): refuse rather than fail at the first enqueue.
    let items: usize = d.group_size.iter().map(|&s| s as usize).product();
    if let Ok(max) = kernel.get_work_group_size(*device)
        && items > max.min(device_max_wg)
    {
        return Err(unsupported(format!(
            "dispatch '{}' needs workgroups of {items} work-items, over CL_KERNEL_WORK_GROUP_SIZE ({max}) of this kernel on this device (CL_DEVICE_MAX_WORK_GROUP_SIZE {device_max_wg})",
            d.entry
        )));
    }
    Ok(kernel)
}

impl Prepared for OpenClPrepared {
    fn run(&mut self, iters: u64) -> Result<Timing> {
        let mut span = EventSpan::default();
        let start = Instant::now();
        for _ in 0..iters {
            self.enqueue_iteration(&mut span)?;
        }
        self.queue.finish().map_err(cl_err("clFinish"))?;
        let host_s = start.elapsed().as_secs_f64();
        Ok(Timing {
            host_s,
            device_s: span.device_seconds(),
        })
    }

    fn device_clock(&self) -> DeviceClock {
        DeviceClock::Timestamps
    }

    /// From the kernel's own profiling events over a batch of `iters`.
    fn dispatch_gap(&mut self, iters: u64) -> Result<Option<DispatchGap>> {
        let mut span = EventSpan::keeping_all();
        for _ in 0..iters {
            self.enqueue_iteration(&mut span)?;
        }
        self.queue.finish().map_err(cl_err("clFinish"))?;
        Ok(span.gap(self.dispatches.len() as u32))
    }

    fn read_back(&mut self) -> Result<Buffers> {
        let mut out = Buffers::default();
        for b in self.buffers.iter().filter(|b| b.role == Role::Output) {
            let mut data = vec![0.0f32; b.len];
            read(&self.queue, &b.buffer, &mut data, b.name)?;
            out.push(
                b.name,
                Buffer::from_bytes(b.elem, bytemuck::cast_slice(&data)),
            );
        }
        Ok(out)
    }

    fn end_to_end(&mut self) -> Result<Option<f64>> {
        let start = Instant::now();
        for b in self.buffers.iter_mut().filter(|b| b.role == Role::Input) {
            write(&self.queue, &mut b.buffer, &b.host, b.name)?;
        }
        self.enqueue_iteration(&mut EventSpan::default())?;
        let outputs = self.buffers.iter().filter(|b| b.role == Role::Output);
        for (b, data) in outputs.zip(self.scratch.iter_mut()) {
            read(&self.queue, &b.buffer, data, b.name)?;
        }
        Ok(Some(start.elapsed().as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Param, SizeSpec};
    use crate::kernels::Registry;

    /// The backend and its first device, or `None` (with the reason
    /// printed) where this node has no OpenCL.
    fn opencl() -> Option<(OpenClBackend, Device)> {
        match OpenClBackend::new() {
            Ok(b) => {
                let d = b.devices().ok()?.into_iter().next()?;
                Some((b, d))
            }
            Err(u) => {
                println!("skipped: OpenCL unavailable: {}", u.reason);
                None
            }
        }
    }

    fn triad_inputs(reg: &Registry, n: i64) -> Inputs {
        let k = reg.get("stream_triad").unwrap();
        let size = SizeSpec {
            name: "test".into(),
            params: [("n".to_string(), Param::Int(n))].into_iter().collect(),
            source: "src/backends/opencl.rs".into(),
        };
        k.kernel.generate(&size, 7).unwrap()
    }

    #[test]
    fn devices_are_numbered_and_typed() {
        let Some((backend, _)) = opencl() else { return };
        let devices = backend.devices().unwrap();
        for (i, d) in devices.iter().enumerate() {
            assert_eq!(d.id, format!("opencl{i}"));
            assert_eq!(d.backend, BackendKind::Opencl);
            assert!(!d.name.is_empty());
            assert!(d.api.starts_with("OpenCL"), "{}", d.api);
            let text = format!("{} {} {}", d.name, d.driver, d.api).to_ascii_lowercase();
            if text.contains("pthread") || d.api.contains("PoCL HSTR: pthread") {
                assert_eq!(d.device_type, DeviceType::Cpu, "{d:?}");
            }
        }
    }

    #[test]
    fn build_error_names_the_origin_and_carries_the_log() {
        let Some((backend, device)) = opencl() else {
            return;
        };
        let mut reg = Registry::builtin().unwrap();
        let inputs = triad_inputs(&reg, 1000);
        let k = reg
            .kernels
            .iter_mut()
            .find(|k| k.name() == "stream_triad")
            .unwrap();
        k.opencl = Some(ShaderSource {
            origin: "test:broken_triad.cl".into(),
            text: "__kernel void triad(__global float *a, __global const float *b,\n\
                   __global const float *c, const uint n, const float s) {\n\
                   a[0] = undeclared_thing + ;\n}\n"
                .into(),
        });
        let k = reg.get("stream_triad").unwrap();
        let err = match backend.prepare(k, &device, &inputs) {
            Ok(_) => panic!("a broken source built"),
            Err(e) => e,
        };
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("test:broken_triad.cl"), "{msg}");
        assert!(msg.contains("build log"), "{msg}");
        // The compiler's own words about the source.
        assert!(msg.contains("undeclared_thing"), "{msg}");
        assert!(msg.to_ascii_lowercase().contains("error"), "{msg}");
    }

    #[test]
    fn a_kernel_without_opencl_source_is_unsupported() {
        let Some((backend, device)) = opencl() else {
            return;
        };
        let mut reg = Registry::builtin().unwrap();
        let inputs = triad_inputs(&reg, 1000);
        for k in reg.kernels.iter_mut() {
            k.opencl = None;
        }
        let k = reg.get("stream_triad").unwrap();
        match backend.prepare(k, &device, &inputs) {
            Err(Error::Unsupported { message, .. }) => {
                assert!(message.contains("no OpenCL C source"), "{message}")
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("prepared without a source"),
        }
    }

    #[test]
    fn triad_runs_times_and_reads_back() {
        let Some((backend, device)) = opencl() else {
            return;
        };
        let reg = Registry::builtin().unwrap();
        let k = reg.get("stream_triad").unwrap();
        let inputs = triad_inputs(&reg, 10_001);
        let mut p = backend.prepare(k, &device, &inputs).unwrap();
        let t = p.run(3).unwrap();
        assert!(t.host_s > 0.0);
        let d = t.device_s.expect("profiling gives device time");
        assert!(d > 0.0 && d.is_finite());
        let out = p.read_back().unwrap();
        assert_eq!(out.entries.len(), 1);
        assert_eq!(out.entries[0].0, "a");
        let v = k
            .kernel
            .verify(&inputs, &out, k.manifest.tolerance)
            .unwrap();
        assert!(v.passed, "{}", v.detail);
        assert!(p.end_to_end().unwrap().is_some_and(|s| s > 0.0));
        assert_eq!(p.read_back().unwrap(), out);
        let zero = p.run(0).unwrap();
        assert_eq!(zero.device_s, None);
    }

    #[test]
    fn versions_parse() {
        assert!(version_at_least(
            "OpenCL 3.0 PoCL HSTR: pthread-x86_64",
            "OpenCL ",
            (2, 0)
        ));
        assert!(!version_at_least("OpenCL 1.2 CUDA", "OpenCL ", (2, 0)));
        assert!(version_at_least("OpenCL C 1.2 PoCL", "OpenCL C ", (1, 2)));
        assert!(!version_at_least("OpenCL C 1.1", "OpenCL C ", (1, 2)));
        assert!(!version_at_least("garbage", "OpenCL C ", (1, 0)));
    }

    #[test]
    fn build_options_follow_the_opencl_c_version() {
        let Some((_, _)) = opencl() else { return };
        // Only checks that the parser accepts real version strings.
        let platforms = get_platforms().unwrap();
        for p in platforms {
            for id in p.get_devices(CL_DEVICE_TYPE_ALL).unwrap_or_default() {
                let dev = ClDevice::new(id);
                let v = dev.opencl_c_version().unwrap();
                if v.starts_with("OpenCL C 1.2") || v.starts_with("OpenCL C 3") {
                    assert_eq!(build_options(&dev), "-cl-std=CL1.2", "{v}");
                }
            }
        }
    }
}
