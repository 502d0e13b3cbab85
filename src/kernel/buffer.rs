//! Kernel data: typed buffers ([`Buffer`]), named sets of them
//! ([`Buffers`]) and a kernel's generated [`Inputs`].

use crate::error::{Error, Result};
use crate::kernel::manifest::{Precision, SizeSpec};

/// A buffer of kernel data: f32 and u32 elements of 4 bytes, f64 elements
/// of 8. Kernels generate f32 data; an f64 run widens it (exactly, see
/// [`Inputs::in_precision`]), so both variants compute on the same values.
#[derive(Debug, Clone, PartialEq)]
pub enum Buffer {
    F32(Vec<f32>),
    U32(Vec<u32>),
    F64(Vec<f64>),
}

/// The element type of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    U32,
    F64,
}

impl Elem {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::F32 | Elem::U32 => 4,
            Elem::F64 => 8,
        }
    }
}

impl Buffer {
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::U32(v) => v.len(),
            Buffer::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.len() * self.elem().size()
    }

    pub fn elem(&self) -> Elem {
        match self {
            Buffer::F32(_) => Elem::F32,
            Buffer::U32(_) => Elem::U32,
            Buffer::F64(_) => Elem::F64,
        }
    }

    /// The buffer's bytes, native-endian, as a device receives them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Buffer::F32(v) => bytemuck::cast_slice(v),
            Buffer::U32(v) => bytemuck::cast_slice(v),
            Buffer::F64(v) => bytemuck::cast_slice(v),
        }
    }

    /// A buffer of `elem` from device bytes (a whole number of elements).
    pub fn from_bytes(elem: Elem, bytes: &[u8]) -> Buffer {
        match elem {
            Elem::F32 => Buffer::F32(bytemuck::pod_collect_to_vec(bytes)),
            Elem::U32 => Buffer::U32(bytemuck::pod_collect_to_vec(bytes)),
            Elem::F64 => Buffer::F64(bytemuck::pod_collect_to_vec(bytes)),
        }
    }
}

/// A real-valued output in whichever precision the run computed it, read
/// as f64 by verification.
#[derive(Debug, Clone, Copy)]
pub enum Reals<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl Reals<'_> {
    pub fn len(&self) -> usize {
        match self {
            Reals::F32(v) => v.len(),
            Reals::F64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as f64 (exact for both precisions).
    #[inline]
    pub fn at(&self, i: usize) -> f64 {
        match self {
            Reals::F32(v) => v[i] as f64,
            Reals::F64(v) => v[i],
        }
    }

    /// Every element as f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Reals::F32(v) => v.iter().map(|&x| x as f64).collect(),
            Reals::F64(v) => v.to_vec(),
        }
    }
}

/// Named buffers, for inputs and outputs alike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buffers {
    pub entries: Vec<(&'static str, Buffer)>,
}

impl Buffers {
    pub fn push(&mut self, name: &'static str, buffer: Buffer) {
        self.entries.push((name, buffer));
    }

    pub fn get(&self, name: &str) -> Option<&Buffer> {
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Buffer> {
        self.entries
            .iter_mut()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b)
    }

    /// The f32 buffer `name`; a missing one is a backend bug, reported as such.
    pub fn f32(&self, name: &str) -> Result<&[f32]> {
        match self.get(name) {
            Some(Buffer::F32(v)) => Ok(v),
            other => Err(self.wrong(name, "f32", other)),
        }
    }

    /// The f64 buffer `name`.
    pub fn f64(&self, name: &str) -> Result<&[f64]> {
        match self.get(name) {
            Some(Buffer::F64(v)) => Ok(v),
            other => Err(self.wrong(name, "f64", other)),
        }
    }

    /// The real-valued buffer `name`, f32 or f64.
    pub fn real(&self, name: &str) -> Result<Reals<'_>> {
        match self.get(name) {
            Some(Buffer::F32(v)) => Ok(Reals::F32(v)),
            Some(Buffer::F64(v)) => Ok(Reals::F64(v)),
            other => Err(self.wrong(name, "f32 or f64", other)),
        }
    }

    /// The u32 buffer `name`.
    pub fn u32(&self, name: &str) -> Result<&[u32]> {
        match self.get(name) {
            Some(Buffer::U32(v)) => Ok(v),
            other => Err(self.wrong(name, "u32", other)),
        }
    }

    fn wrong(&self, name: &str, want: &str, got: Option<&Buffer>) -> Error {
        Error::Backend {
            backend: "kernel".into(),
            message: match got {
                None => format!("buffer '{name}' is missing"),
                Some(b) => format!("buffer '{name}' holds {:?}, not {want}", b.elem()),
            },
        }
    }

    pub fn total_bytes(&self) -> usize {
        self.entries.iter().map(|(_, b)| b.bytes()).sum()
    }
}

/// A kernel's inputs for one size and seed: buffers and scalar parameters.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub size: SizeSpec,
    pub seed: u64,
    pub buffers: Buffers,
}

impl Inputs {
    /// The inputs of a run in `precision`: for f64, every f32 buffer
    /// widened to f64 (exact, so both variants compute on the same values
    /// and one f64 reference verifies both); otherwise these, not a copy.
    pub fn in_precision(&self, precision: Precision) -> std::borrow::Cow<'_, Inputs> {
        if precision != Precision::F64 {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut out = self.clone();
        for (_, b) in &mut out.buffers.entries {
            if let Buffer::F32(v) = b {
                *b = Buffer::F64(v.iter().map(|&x| x as f64).collect());
            }
        }
        std::borrow::Cow::Owned(out)
    }

    /// The precision these inputs are in: f64 when any buffer is f64.
    pub fn precision(&self) -> Precision {
        if self
            .buffers
            .entries
            .iter()
            .any(|(_, b)| b.elem() == Elem::F64)
        {
            Precision::F64
        } else {
            Precision::F32
        }
    }
}
