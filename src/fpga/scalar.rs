//! The [`Scalar`] trait: the arithmetic a kernel's reference is generic
//! over, so that the same code runs in f64 (the reference) and in
//! `ap_fixed` (the FPGA emulation), as an HLS C-simulation runs the same
//! C++ with `float` or `ap_fixed` types.
//!
//! Kernels written against it use the hls4ml pattern for dot products:
//! products into the exact [`Scalar::Wide`] type, accumulation in it, and
//! one cast back ([`Scalar::from_wide`]) at the end. Plain `add`/`mul`
//! assign each result back to the type, as `c = a + b` does in HLS.

use super::fixed::{ApFixed, Format, Wide};

pub trait Scalar: Copy + Send + Sync + PartialEq + std::fmt::Debug + 'static {
    /// The full-precision type of products and accumulators.
    type Wide: Copy + Send + Sync;

    fn zero() -> Self;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `self + o`, assigned back to `Self`.
    fn add(self, o: Self) -> Self;
    /// `self - o`, assigned back to `Self`.
    fn sub(self, o: Self) -> Self;
    /// `self * o`, assigned back to `Self`.
    fn mul(self, o: Self) -> Self;
    /// `1 / self`, assigned back to `Self`; in fixed point `T(1) / self` as
    /// HLS computes it (truncated toward zero, see [`Format::recip_raw`]).
    fn recip(self) -> Self;
    /// Zero of the wide type.
    fn wide_zero() -> Self::Wide;
    /// `self` exactly in the wide type.
    fn widen(self) -> Self::Wide;
    /// `acc + a * b` in the wide type, exactly for fixed point.
    fn mul_acc(acc: Self::Wide, a: Self, b: Self) -> Self::Wide;
    /// The wide value assigned to `Self` (quantised, overflow handled).
    fn from_wide(w: Self::Wide) -> Self;
    /// The fixed-point format, `None` for floating point.
    fn format() -> Option<Format>;
}

impl Scalar for f64 {
    type Wide = f64;

    fn zero() -> Self {
        0.0
    }
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn add(self, o: Self) -> Self {
        self + o
    }
    fn sub(self, o: Self) -> Self {
        self - o
    }
    fn mul(self, o: Self) -> Self {
        self * o
    }
    fn recip(self) -> Self {
        1.0 / self
    }
    fn wide_zero() -> f64 {
        0.0
    }
    fn widen(self) -> f64 {
        self
    }
    fn mul_acc(acc: f64, a: f64, b: f64) -> f64 {
        acc + a * b
    }
    fn from_wide(w: f64) -> Self {
        w
    }
    fn format() -> Option<Format> {
        None
    }
}

impl<const W: u32, const I: i32, const Q: u8, const O: u8> Scalar for ApFixed<W, I, Q, O> {
    type Wide = Wide;

    fn zero() -> Self {
        Self::from_raw(0)
    }
    fn from_f64(x: f64) -> Self {
        ApFixed::from_f64(x)
    }
    fn to_f64(self) -> f64 {
        ApFixed::to_f64(self)
    }
    fn add(self, o: Self) -> Self {
        Self::from_wide(self.wide().plus(o.wide()))
    }
    fn sub(self, o: Self) -> Self {
        let w = o.wide();
        Self::from_wide(self.wide().plus(Wide {
            raw: -w.raw,
            frac: w.frac,
        }))
    }
    fn mul(self, o: Self) -> Self {
        Self::from_wide(self.mul_wide(o))
    }
    fn recip(self) -> Self {
        Self::from_raw(Self::FORMAT.recip_raw(self.raw()))
    }
    fn wide_zero() -> Wide {
        Wide {
            raw: 0,
            frac: 2 * Self::F,
        }
    }
    fn widen(self) -> Wide {
        self.wide()
    }
    /// Exact; an accumulator that would need more than 127 bits stops the
    /// emulation ([`Wide::plus`]).
    #[inline]
    fn mul_acc(acc: Wide, a: Self, b: Self) -> Wide {
        acc.plus(a.mul_wide(b))
    }
    fn from_wide(w: Wide) -> Self {
        ApFixed::from_wide(w)
    }
    fn format() -> Option<Format> {
        Some(Self::FORMAT)
    }
}

/// A [`Scalar`] with the arithmetic operators, for kernel code written
/// with `+`, `-` and `*` (each result assigned back to the type, as in HLS
/// C++ with `ap_fixed` variables).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arith<S>(pub S);

impl<S: Scalar> std::ops::Add for Arith<S> {
    type Output = Self;
    #[inline]
    fn add(self, o: Self) -> Self {
        Arith(self.0.add(o.0))
    }
}

impl<S: Scalar> std::ops::Sub for Arith<S> {
    type Output = Self;
    #[inline]
    fn sub(self, o: Self) -> Self {
        Arith(self.0.sub(o.0))
    }
}

impl<S: Scalar> std::ops::Mul for Arith<S> {
    type Output = Self;
    #[inline]
    fn mul(self, o: Self) -> Self {
        Arith(self.0.mul(o.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::fixed::{o, q};

    type T = ApFixed<18, 8, { q::RND_CONV }, { o::SAT }>;

    /// A dot product accumulated wide and cast once is the exact sum
    /// rounded once; element-wise `add`/`mul` round at every step.
    #[test]
    fn wide_accumulation_rounds_once() {
        let xs: Vec<T> = (0..100).map(|i| T::from_f64(0.0013 * i as f64)).collect();
        let mut acc = T::wide_zero();
        let mut exact = 0i128;
        for x in &xs {
            acc = T::mul_acc(acc, *x, *x);
            exact += x.raw() as i128 * x.raw() as i128;
        }
        let once = T::from_wide(acc);
        assert_eq!(
            once.to_f64(),
            T::from_wide(Wide {
                raw: exact,
                frac: 20
            })
            .to_f64()
        );
        let f: f64 = xs.iter().map(|x| x.to_f64() * x.to_f64()).sum();
        assert!((once.to_f64() - f).abs() <= T::FORMAT.lsb() / 2.0);
        let stepwise = xs.iter().fold(T::zero(), |s, x| s.add(x.mul(*x)));
        assert_ne!(stepwise, once, "step-wise rounding differs here");
        // mixed: widen + products
        let w = T::mul_acc(
            T::from_f64(1.5).widen(),
            T::from_f64(3.0),
            T::from_f64(0.25),
        );
        assert_eq!(T::from_wide(w).to_f64(), 2.25);
    }

    #[test]
    fn sub_rounds_once_and_recip_truncates_as_hls() {
        // LSB 2^-10: 1/3 = 0.0101010101|01.. truncates to 341/1024.
        let third = T::from_f64(3.0).recip();
        assert_eq!(third.raw(), 341);
        assert_eq!(T::from_f64(-3.0).recip().raw(), -341);
        // ap_fixed.h: ap_fixed<18,8,AP_RND_CONV,AP_SAT>(1) / 1.5 is
        // 0.666015625 (682/1024, truncated toward zero), not the rounded
        // 683/1024; -1/1.5 is -682/1024 (toward zero, not -683).
        assert_eq!(T::from_f64(1.5).recip().to_f64(), 0.666015625);
        assert_eq!(T::from_f64(-1.5).recip().raw(), -682);
        // 1/0.001 overflows the range of +-128: saturates.
        assert_eq!(T::from_f64(0.001).recip().to_f64(), T::FORMAT.max_value());
        let d = (Arith(T::from_f64(1.5)) - Arith(T::from_f64(2.25))) * Arith(T::from_f64(2.0));
        assert_eq!(d.0.to_f64(), -1.5);
        assert_eq!(Arith(0.5f64) + Arith(0.25), Arith(0.75));
        assert_eq!(4.0f64.recip(), 0.25);
    }
}
