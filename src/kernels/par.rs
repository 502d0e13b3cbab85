//! Parallel building blocks shared by the CPU implementations.
//!
//! Memory-bound kernels use a static partition, one contiguous range per
//! thread and the same range on every run, as OpenMP's `schedule(static)`
//! does: each thread first-touches the pages it will later stream, which keeps
//! them on its NUMA node. Compute-bound kernels use rayon's work stealing.
//!
//! [`multiversion!`] compiles one body for several x86 feature levels and
//! picks the best at run time, so the binary runs on any x86-64 and still
//! uses AVX-512 or AVX2+FMA where the node has them.

use std::ops::Range;

use crate::error::Result;
use crate::kernel::{Buffer, Inputs};

/// The floating-point types kernels compute in: f32, and f64 for kernels
/// with an f64 variant. CPU implementations are written once over `Real`.
pub trait Real:
    Copy
    + Default
    + Send
    + Sync
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn from_f32(x: f32) -> Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn sqrt(self) -> Self;
    fn ln(self) -> Self;
    fn exp(self) -> Self;
    fn floor(self) -> Self;
    fn abs(self) -> Self;
    /// `a * b + c`, fused where the caller was compiled with FMA.
    fn mul_add<const FMA: bool>(a: Self, b: Self, c: Self) -> Self;
    /// The input buffer `name` of `inputs` in this type.
    fn input<'a>(inputs: &'a Inputs, name: &str) -> Result<&'a [Self]>;
    /// An output buffer of this type.
    fn buffer(v: Vec<Self>) -> Buffer;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f32::exp(self)
    }
    #[inline(always)]
    fn floor(self) -> Self {
        f32::floor(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn mul_add<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
        if FMA { a.mul_add(b, c) } else { a * b + c }
    }
    fn input<'a>(inputs: &'a Inputs, name: &str) -> Result<&'a [Self]> {
        inputs.buffers.f32(name)
    }
    fn buffer(v: Vec<Self>) -> Buffer {
        Buffer::F32(v)
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x as f64
    }
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn floor(self) -> Self {
        f64::floor(self)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f64::abs(self)
    }
    #[inline(always)]
    fn mul_add<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
        if FMA { a.mul_add(b, c) } else { a * b + c }
    }
    fn input<'a>(inputs: &'a Inputs, name: &str) -> Result<&'a [Self]> {
        inputs.buffers.f64(name)
    }
    fn buffer(v: Vec<Self>) -> Buffer {
        Buffer::F64(v)
    }
}

/// Calls `$f::<f32>` or `$f::<f64>` as `$inputs` are in f32 or f64 (see
/// [`Inputs::in_precision`]): how a kernel's `cpu` picks its variant.
#[macro_export]
macro_rules! by_precision {
    ($inputs:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $inputs.precision() {
            $crate::kernel::Precision::F64 => $f::<f64>($($arg),*),
            _ => $f::<f32>($($arg),*),
        }
    };
}

/// `n` items split into `parts` contiguous ranges whose starts are multiples
/// of `align` (items), covering `0..n` exactly.
pub fn static_ranges(n: usize, parts: usize, align: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let align = align.max(1);
    let per = n.div_ceil(parts).div_ceil(align) * align;
    (0..parts)
        .map(|p| (p * per).min(n)..((p + 1) * per).min(n))
        .collect()
}

/// A raw view of a slice that threads write at disjoint ranges.
pub struct SharedMut<T> {
    ptr: *mut T,
    len: usize,
}

// SAFETY: `SharedMut` only hands out slices through `range`, whose callers
// promise disjoint ranges; the data itself is `Send`.
unsafe impl<T: Send> Send for SharedMut<T> {}
unsafe impl<T: Send> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    pub fn new(slice: &mut [T]) -> Self {
        SharedMut {
            ptr: slice.as_mut_ptr(),
            len: slice.len(),
        }
    }

    /// # Safety
    /// No two live slices obtained from this view may overlap, and the
    /// underlying slice must outlive them.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn range(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len);
        // SAFETY: in bounds (checked above); disjointness is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start) }
    }
}

/// Runs `f(range)` once on every thread of the current rayon pool, thread
/// `i` always getting the `i`-th static range of `0..n`.
pub fn for_each_static_range(n: usize, align: usize, f: impl Fn(Range<usize>) + Sync) {
    let threads = rayon::current_num_threads();
    let ranges = static_ranges(n, threads, align);
    rayon::broadcast(|ctx| {
        let r = ranges[ctx.index()].clone();
        if !r.is_empty() {
            f(r);
        }
    });
}

/// A copy of `src` whose pages are first touched by the threads that
/// [`for_each_static_range`] will give them to.
pub fn first_touch_copy<T: Real>(src: &[T], align: usize) -> Vec<T> {
    // `vec![0.0; n]` is a zeroed allocation: pages are mapped on first write.
    let mut dst = vec![T::ZERO; src.len()];
    let view = SharedMut::new(&mut dst);
    for_each_static_range(src.len(), align, |r| {
        // SAFETY: static ranges are disjoint and `dst` outlives the broadcast.
        let d = unsafe { view.range(r.clone()) };
        d.copy_from_slice(&src[r]);
    });
    dst
}

/// C = A B for row-major matrices (f32: sgemm, f64: dgemm), C m x n, A
/// m x k, B k x n, on the current rayon pool, with the `gemm` crate's
/// packed AVX2/AVX-512 micro-kernels. The slices must hold the matrices
/// exactly.
pub fn gemm_row_major<T: Real>(m: usize, n: usize, k: usize, a: &[T], b: &[T], c: &mut [T]) {
    assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
    // SAFETY: the lengths are checked above, `c` is borrowed mutably so it
    // aliases neither input, and the strides (1 between columns, the row
    // length between rows) describe exactly those row-major layouts.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(rayon::current_num_threads()),
        );
    }
}

/// `a * b + c`, fused where the caller was compiled with FMA.
#[inline(always)]
pub fn mul_add<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Defines `fn $name(args) -> ret` that calls `$body::<FMA>(args)` compiled
/// for AVX-512, for AVX2+FMA, or for baseline x86-64, whichever is the best
/// the CPU supports. `$body` must be `#[inline(always)]` and generic over
/// `const FMA: bool`.
#[macro_export]
macro_rules! multiversion {
    ($vis:vis fn $name:ident<$g:ident : $bound:path>($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident) => {
        $vis fn $name<$g: $bound>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
                fn v4<$g: $bound>($($arg: $ty),*) $(-> $ret)? { $body::<$g, true>($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn v3<$g: $bound>($($arg: $ty),*) $(-> $ret)? { $body::<$g, true>($($arg),*) }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512bw")
                {
                    // SAFETY: the features v4 is compiled for were detected.
                    return unsafe { v4::<$g>($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features v3 is compiled for were detected.
                    return unsafe { v3::<$g>($($arg),*) };
                }
            }
            $body::<$g, false>($($arg),*)
        }
    };
    ($vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? = $body:ident) => {
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
                fn v4($($arg: $ty),*) $(-> $ret)? { $body::<true>($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn v3($($arg: $ty),*) $(-> $ret)? { $body::<true>($($arg),*) }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
                    && std::is_x86_feature_detected!("avx512bw")
                {
                    // SAFETY: the features v4 is compiled for were detected.
                    return unsafe { v4($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features v3 is compiled for were detected.
                    return unsafe { v3($($arg),*) };
                }
            }
            $body::<false>($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_ranges_cover_exactly_and_align() {
        let r = static_ranges(1000, 3, 16);
        assert_eq!(r, vec![0..336, 336..672, 672..1000]);
        let r = static_ranges(10, 4, 16);
        assert_eq!(r, vec![0..10, 10..10, 10..10, 10..10]);
        assert_eq!(static_ranges(0, 2, 16), vec![0..0, 0..0]);
    }

    #[test]
    fn first_touch_copy_copies() {
        let src: Vec<f32> = (0..10_007).map(|i| i as f32).collect();
        assert_eq!(first_touch_copy(&src, 16), src);
    }
}
