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
///   `read` for [`Role::Input`], `read_write` otherwise) and OpenCL kernel
///   argument `i` (a `__global` pointer);
/// - `params` follow: in WGSL one uniform struct at `@binding(buffers.len())`
///   with the fields in this order (each 4 bytes), in OpenCL one scalar
///   argument each, in this order, after the buffers;
/// - every iteration runs `dispatches` in order; `groups` counts workgroups
///   (OpenCL: global size = groups * group_size), and `group_size` must
///   equal the shader's `@workgroup_size` / `reqd_work_group_size`.
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

#[derive(Debug, Clone, PartialEq)]
pub struct LaunchBuffer {
    pub name: &'static str,
    pub role: Role,
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
            len,
            elem: Elem::F32,
            part: None,
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
