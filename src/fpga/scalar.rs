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
    /// `self / o`, assigned back; in fixed point as `ap_fixed.h` divides
    /// (truncated toward zero, [`Format::div_raw`]).
    fn div(self, o: Self) -> Self;
    /// The square root; in fixed point `hls::sqrt` as Vivado HLS's
    /// `hls_sqrt.h` computes it (rounded to nearest, 0 for negative
    /// values, [`Format::sqrt_raw`]).
    fn sqrt(self) -> Self;
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
    fn div(self, o: Self) -> Self {
        self / o
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
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
    fn div(self, o: Self) -> Self {
        Self::from_raw(Self::FORMAT.div_raw(self.raw(), o.raw()))
    }
    fn sqrt(self) -> Self {
        Self::from_raw(Self::FORMAT.sqrt_raw(self.raw()))
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

    /// `hls_sqrt.h`'s restoring recurrence as the header writes it, bit by
    /// bit from the result's top bit down to 2^-(F+1) (a bit is kept when
    /// the square of the root so far stays <= x), then + 2^-(F+1) and the
    /// last bit truncated; against `sqrt_raw` on many values.
    fn header_sqrt(raw: i64, f: i32, i: i32) -> i64 {
        let x = (raw as i128) << (f + 2); // units of 2^-(2F+2)
        let msbr = (i + 1) / 2;
        let mut res: i128 = 0; // units of 2^-(F+1)
        for pos in (-f - 1..msbr).rev() {
            let cand = res + (1i128 << (pos + f + 1));
            if cand * cand <= x {
                res = cand;
            }
        }
        ((res + 1) >> 1) as i64
    }

    #[test]
    fn sqrt_follows_hls_sqrt_and_div_the_header_division() {
        type N = ApFixed<56, 24, { q::RND_CONV }, { o::SAT }>;
        // By hand at 10 fraction bits: sqrt(2) = 1448.15.../1024 -> 1448;
        // sqrt(0.390625) = 0.625 exactly; negative -> 0.
        assert_eq!(T::from_f64(2.0).sqrt().raw(), 1448);
        assert_eq!(T::from_f64(0.390625).sqrt().to_f64(), 0.625);
        assert_eq!(T::from_f64(-4.0).sqrt().raw(), 0);
        let mut x: i64 = 1;
        while x < (1i64 << 54) {
            for raw in [x, x + 1, x * 3 / 2 + 7] {
                assert_eq!(N::FORMAT.sqrt_raw(raw), header_sqrt(raw, 32, 24), "{raw}");
                // Rounded to nearest, checked with the format's own exact
                // product r * r: (2R - 1)^2 <= 4 x 2^F < (2R + 1)^2.
                let r = N::from_raw(N::FORMAT.sqrt_raw(raw));
                let (rr, big) = (r.mul_wide(r).raw, r.raw() as i128);
                let x4 = 4 * ((raw as i128) << 32);
                assert!(4 * rr - 4 * big < x4 && x4 < 4 * rr + 4 * big + 1, "{raw}");
            }
            x = x * 5 / 4 + 1;
        }
        for raw in 1..5000 {
            assert_eq!(T::FORMAT.sqrt_raw(raw), header_sqrt(raw, 10, 8));
        }
        assert!(T::FORMAT.sqrt_supported().is_ok());
        assert!(
            Format::parse("ap_fixed<64,30>")
                .unwrap()
                .sqrt_supported()
                .is_err()
        );
        // div: 2 / 3 at 10 fraction bits is (2048 << 10) / 3072 = 682
        // (truncated), -1.5 / 0.25 = -6 exactly; T(1) / x is recip.
        assert_eq!(T::from_f64(2.0).div(T::from_f64(3.0)).raw(), 682);
        assert_eq!(T::from_f64(-1.5).div(T::from_f64(0.25)).to_f64(), -6.0);
        for raw in [-70_000i64, -3, -1, 1, 2, 3, 1536, 99_999] {
            assert_eq!(T::FORMAT.div_raw(1024, raw), T::FORMAT.recip_raw(raw));
        }
    }
}
