//! How a GPU backend runs a kernel, as data: buffers, parameters and
//! dispatches ([`Launch`]). Backends turn it into API calls; a kernel
//! describes itself once for WGSL and OpenCL C alike.

use crate::error::{Error, Result};
use crate::kernel::buffer::{Buffer, Elem};
use crate::kernel::manifest::Precision;

/// How a GPU backend runs a kernel: data, not code, so that adding a kernel
/// needs no backend code. The same description serves WGSL and OpenCL C:
///
/// - `buffers[i]` is WGSL `@group(0) @binding(i)` (a storage buffer,
///   `read` for [`Role::Input`], `read_write` otherwise; a uniform buffer
///   where its [`Binding`] is [`Binding::Uniform`]) and OpenCL kernel
///   argument `i` (a `__global` pointer; `__constant` for a uniform);
/// - `params` follow: in WGSL one uniform struct at `@binding(buffers.len())`
///   with the fields in this order (each 4 bytes), in OpenCL one scalar
///   argument each, in this order, after the buffers;
/// - every iteration runs `dispatches` in order; `groups` counts workgroups
///   (OpenCL: global size = groups * group_size), and `group_size` must
///   equal the shader's `@workgroup_size` / `reqd_work_group_size`.
/// - a dispatch with a [`Chunk`] binds windows of some buffers instead
///   (the shader's array then starts at the window's offset) and passes
///   its own values of some parameters: how buffers larger than a device
///   binds at once are worked on.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub buffers: Vec<LaunchBuffer>,
    pub params: Vec<(&'static str, Arg)>,
    pub dispatches: Vec<Dispatch>,
}

impl Launch {
    /// The launch of a run in `precision`: for f64, every f32 buffer holds
    /// f64 (the shader's `real`); u32 buffers and the parameters stay as
    /// they are (f32 parameters are converted by the shader).
    pub fn in_precision(mut self, precision: Precision) -> Launch {
        if precision == Precision::F64 {
            for b in &mut self.buffers {
                if b.elem == Elem::F32 {
                    b.elem = Elem::F64;
                }
            }
        }
        self
    }
}

/// What a launch buffer holds and whether it is read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Uploaded from the input buffer of the same name; read only.
    Input,
    /// Zero-initialised, written by the kernel, read back as an output.
    /// Every iteration must compute the same outputs from the same inputs
    /// (iterations repeat for timing): a multi-step kernel reads an input
    /// in its first dispatch and ping-pongs between two outputs after.
    Output,
}

/// The memory a launch buffer is bound as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// A storage buffer (WGSL `var<storage>`, OpenCL `__global`).
    Storage,
    /// A small read-only input every invocation reads at the same addresses
    /// (weights, coefficients): a uniform buffer (WGSL `var<uniform>`,
    /// whose arrays have a 16-byte stride: `array<vec4<f32>, N>`; the
    /// backend pads the buffer with zeros to a multiple of 16 bytes) or
    /// OpenCL `__constant` memory. GPUs serve such reads from a broadcast
    /// constant cache, or as instruction operands. At most
    /// [`MAX_UNIFORM_BINDING_BYTES`] on every device.
    Uniform,
}

/// Bytes of one uniform binding every device allows
/// (`max_uniform_buffer_binding_size`: WebGPU's default and Vulkan's
/// required minimum; OpenCL's `CL_DEVICE_MAX_CONSTANT_BUFFER_SIZE` is at
/// least 64 KiB too).
pub const MAX_UNIFORM_BINDING_BYTES: u64 = 65_536;

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchBuffer {
    pub name: &'static str,
    pub role: Role,
    pub binding: Binding,
    /// Length in elements.
    pub len: usize,
    pub elem: Elem,
    /// For an input bound in parts: the element offset of this part in the
    /// input of its name (see [`LaunchBuffer::input_part`]); `None` binds
    /// the whole input.
    pub part: Option<usize>,
}

impl LaunchBuffer {
    /// An f32 input of `len` elements.
    pub fn input(name: &'static str, len: usize) -> Self {
        LaunchBuffer {
            name,
            role: Role::Input,
            binding: Binding::Storage,
            len,
            elem: Elem::F32,
            part: None,
        }
    }

    /// An f32 input of `len` elements bound as a uniform buffer
    /// (`__constant` in OpenCL): see [`Binding::Uniform`].
    pub fn uniform(name: &'static str, len: usize) -> Self {
        LaunchBuffer {
            binding: Binding::Uniform,
            ..Self::input(name, len)
        }
    }

    /// Bytes the buffer binds: its elements, and for a uniform the zero
    /// padding to a multiple of 16 bytes.
    pub fn binding_bytes(&self, len: usize) -> u64 {
        let bytes = (len as u64).saturating_mul(self.elem.size() as u64);
        match self.binding {
            Binding::Storage => bytes,
            Binding::Uniform => bytes.next_multiple_of(16),
        }
    }

    /// Elements `offset..offset + len` of the f32 input `name`, bound as a
    /// buffer of its own: an input larger than a device's largest storage
    /// binding (128 MiB on lavapipe and WebGPU by default) is bound in parts.
    pub fn input_part(name: &'static str, offset: usize, len: usize) -> Self {
        LaunchBuffer {
            part: Some(offset),
            ..Self::input(name, len)
        }
    }

    /// An f32 output of `len` elements.
    pub fn output(name: &'static str, len: usize) -> Self {
        LaunchBuffer {
            name,
            role: Role::Output,
            binding: Binding::Storage,
            len,
            elem: Elem::F32,
            part: None,
        }
    }

    /// The bytes of `data` (the input of this buffer's name) this buffer
    /// holds, or why `data` does not fit it.
    pub fn bytes_of<'a>(&self, data: &'a Buffer) -> std::result::Result<&'a [u8], String> {
        let (offset, fits) = match self.part {
            None => (0, data.len() == self.len),
            Some(offset) => (offset, offset + self.len <= data.len()),
        };
        if !fits || data.elem() != self.elem {
            return Err(format!(
                "input '{}' holds {} {:?} elements but the launch binds {} {:?} elements{}",
                self.name,
                data.len(),
                data.elem(),
                self.len,
                self.elem,
                self.part
                    .map(|o| format!(" from offset {o}"))
                    .unwrap_or_default()
            ));
        }
        let size = self.elem.size();
        Ok(&data.as_bytes()[offset * size..(offset + self.len) * size])
    }

    /// The same buffer holding u32 elements.
    pub fn u32(self) -> Self {
        LaunchBuffer {
            elem: Elem::U32,
            ..self
        }
    }
}

/// A scalar kernel argument (a launch parameter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    U32(u32),
    F32(f32),
}

impl Arg {
    /// The 4 bytes of the value, little-endian, as a uniform field.
    pub fn to_le_bytes(self) -> [u8; 4] {
        match self {
            Arg::U32(v) => v.to_le_bytes(),
            Arg::F32(v) => v.to_le_bytes(),
        }
    }
}

/// One dispatch of an entry point.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub entry: &'static str,
    pub groups: [u32; 3],
    pub group_size: [u32; 3],
    /// For a dispatch over one chunk of buffers larger than a device binds
    /// at once: the windows it binds and the parameters it sets otherwise;
    /// `None` binds every buffer whole with the launch's parameters.
    pub chunk: Option<Chunk>,
}

/// What one dispatch binds and sets differently from the launch: the way
/// a buffer larger than a device's largest storage binding (128 MiB on
/// lavapipe and by WebGPU's default) is worked on, a window at a time, as
/// GPU codes do. The buffer itself stays whole in device memory (within
/// the device's largest buffer), and read back whole.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chunk {
    /// At most one window per buffer; buffers without one are bound whole.
    pub windows: Vec<Window>,
    /// Parameters (of the launch's names) with this dispatch's values.
    pub params: Vec<(&'static str, Arg)>,
}

/// Elements `offset..offset + len` of launch buffer `buffer`, bound as the
/// whole of its binding (WGSL: the buffer's array starts at `offset`;
/// OpenCL: a sub-buffer). `offset` is a multiple of [`WINDOW_ALIGN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub buffer: usize,
    pub offset: usize,
    pub len: usize,
}

/// Window offsets are multiples of this many elements: 4 KiB of f32,
/// 8 KiB of f64, a multiple of every device's binding-offset alignment
/// (`min_storage_buffer_offset_alignment`, `CL_DEVICE_MEM_BASE_ADDR_ALIGN`).
pub const WINDOW_ALIGN: usize = 1024;

/// Bytes a launch binds of one buffer at most, in either precision: the
/// largest storage binding of lavapipe and WebGPU's default (128 MiB).
/// `HETBENCH_MAX_BINDING_BYTES` lowers it (never raises it), so that tests
/// run the windowed launches at small sizes.
pub fn max_binding_bytes() -> usize {
    const PORTABLE: usize = 1 << 27;
    std::env::var("HETBENCH_MAX_BINDING_BYTES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(PORTABLE, |v| v.clamp(8 * WINDOW_ALIGN, PORTABLE))
}

/// Elements of the widest real (f64) that fit one binding.
pub fn max_binding_elems() -> usize {
    max_binding_bytes() / 8
}

/// The chunks of `n` items of `per_item` elements each (in every buffer a
/// chunk windows) that one binding holds: `[0..n]` where the whole fits,
/// else ranges that each start at a multiple of [`WINDOW_ALIGN`] elements
/// and span at most [`max_binding_elems`] (in f64).
pub fn binding_chunks(n: usize, per_item: usize) -> Vec<std::ops::Range<usize>> {
    let per_item = per_item.max(1);
    let max_items = max_binding_elems() / per_item;
    if n <= max_items {
        return std::iter::once(0..n).collect();
    }
    // Items per chunk: a multiple of WINDOW_ALIGN, so that every chunk's
    // first element is aligned whatever `per_item` is.
    let step = (max_items / WINDOW_ALIGN * WINDOW_ALIGN).max(WINDOW_ALIGN);
    (0..n.div_ceil(step))
        .map(|k| k * step..((k + 1) * step).min(n))
        .collect()
}

impl Window {
    /// The window of `buffer` (of `total` elements) that covers elements
    /// `start..end`: its offset aligned down to [`WINDOW_ALIGN`], its end
    /// clipped to the buffer. The shader indexes it from `offset`.
    pub fn covering(buffer: usize, start: usize, end: usize, total: usize) -> Window {
        let offset = start / WINDOW_ALIGN * WINDOW_ALIGN;
        let end = end.min(total);
        Window {
            buffer,
            offset,
            len: end.saturating_sub(offset),
        }
    }
}

impl Dispatch {
    /// A dispatch binding every buffer whole.
    pub fn new(entry: &'static str, groups: [u32; 3], group_size: [u32; 3]) -> Self {
        Dispatch {
            entry,
            groups,
            group_size,
            chunk: None,
        }
    }

    /// The window this dispatch binds of buffer `index`, if any.
    pub fn window(&self, index: usize) -> Option<&Window> {
        self.chunk
            .as_ref()
            .and_then(|c| c.windows.iter().find(|w| w.buffer == index))
    }

    /// The parameters this dispatch passes: the launch's, with the chunk's
    /// values where it sets them.
    pub fn params(&self, launch: &[(&'static str, Arg)]) -> Vec<(&'static str, Arg)> {
        launch
            .iter()
            .map(|&(name, value)| {
                let own = self
                    .chunk
                    .as_ref()
                    .and_then(|c| c.params.iter().find(|(n, _)| *n == name));
                (name, own.map_or(value, |&(_, v)| v))
            })
            .collect()
    }
}

/// Largest number of workgroups a launch asks for in one dimension (the
/// WebGPU default limit, Vulkan's required minimum): every manifest size
/// must launch within it (see `backends::limits::DeviceLimits::portable`).
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// `ceil(n / size)` workgroups, or an error when the grid would exceed
/// [`MAX_GROUPS_PER_DIM`].
pub fn groups_for(n: usize, size: u32) -> Result<u32> {
    let groups = n.div_ceil(size as usize);
    u32::try_from(groups)
        .ok()
        .filter(|&g| g <= MAX_GROUPS_PER_DIM)
        .ok_or_else(|| Error::InvalidValue {
            what: "launch grid".into(),
            message: format!("{n} items need {groups} workgroups of {size}, over the limit of {MAX_GROUPS_PER_DIM}"),
        })
}

/// Workgroups of `size` for a grid-stride loop over `n` items: one item per
/// invocation where that fits, else [`MAX_GROUPS_PER_DIM`] workgroups, each
/// invocation looping with a stride of the whole grid.
pub fn grid_stride_groups(n: usize, size: u32) -> u32 {
    groups_for(n, size).unwrap_or(MAX_GROUPS_PER_DIM)
}

/// `n` as a u32 kernel parameter, or an error naming the limit.
pub fn param_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::InvalidValue {
        what: what.into(),
        message: format!("{n} does not fit the 32-bit index of GPU kernels"),
    })
}
