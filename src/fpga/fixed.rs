//! `ApFixed<W, I, Q, O>`: the arbitrary-precision fixed-point type of Vitis
//! HLS (`ap_fixed<W, I, Q, O>`, UG1399 "Arbitrary Precision Fixed-Point Data
//! Types"), for signed values, bit for bit as the C-simulation model in
//! HLS's own `ap_fixed.h` computes it (see "Checked against `ap_fixed.h`").
//!
//! A value is `raw * 2^-F` with `raw` a W-bit two's-complement integer and
//! `F = W - I` fraction bits (I counts the sign bit). Converting a value
//! with more fraction bits applies the quantisation mode `Q`, then the
//! overflow mode `O` to the (possibly carried) result, as `ap_fixed` does:
//!
//! | mode | meaning |
//! |---|---|
//! | `TRN` (default) | truncate toward minus infinity |
//! | `TRN_ZERO` | truncate toward zero |
//! | `RND` | round to nearest, ties toward plus infinity |
//! | `RND_ZERO` | round to nearest, ties toward zero |
//! | `RND_MIN_INF` | round to nearest, ties toward minus infinity |
//! | `RND_INF` | round to nearest, ties away from zero |
//! | `RND_CONV` | round to nearest, ties to even (convergent) |
//! | `WRAP` (default) | keep the low W bits (wrap around) |
//! | `SAT` | saturate to the minimum or maximum |
//! | `SAT_ZERO` | set to zero on overflow |
//! | `SAT_SYM` | saturate symmetrically to +MAX or -MAX; a result equal to MIN becomes -MAX too (as `ap_fixed.h` does: `ap_fixed<4,2,AP_TRN,AP_SAT_SYM>(-2.0)` is -1.75) |
//!
//! Arithmetic follows HLS: `a + b` and `a * b` are exact in a wider type
//! ([`Wide`], an i128 with its fraction bits) and the assignment back to an
//! `ApFixed` quantises and handles overflow. Products and accumulations are
//! exact while they fit 127 bits: a product of two W-bit values needs 2W
//! bits and a sum of k of them log2(k) more (W = 32: 2^63 terms). HLS's own
//! sum types grow as needed, so an intermediate beyond 127 bits is an
//! error ([`WideOverflow`], which the `fpga-emu` backend reports for that
//! result), never a wrap.
//!
//! Reciprocals are `T(1) / x` as `ap_fixed.h` divides ([`Format::recip_raw`]):
//! truncated toward zero at max(F, 0) fraction bits, whatever Q, then O.
//! Conversions from `double` ([`Format::from_f64`]) are exact rounding of
//! the double's value, huge magnitudes included; NaN and the infinities
//! are read as the header reads their bits (±1.m x 2^1024).
//!
//! ## Checked against `ap_fixed.h`
//! `tests/ap_fixed_hls.rs` compiles `tests/ap_fixed/hls_cases.cpp` with g++
//! against the header (from the hls4ml wheel, pinned and checked by
//! `scripts/check-ap-fixed.sh`; CI runs it required) and compares 323,493
//! cases bit for bit: for each of 476 formats (the 28 Q x O modes at 17
//! sizes: W from 1 to 64, I from -2 to 64, I > W included), conversions
//! from double (ties, the range's edges, powers of two to 2^1023, NaN
//! with both signs and payloads, infinities, subnormals), products, sums,
//! differences, `T(1)/x`, casts from five other formats (up to 128 bits),
//! dot products and `c + a * b` in an exact accumulator (422 dot
//! products beyond 128 bits, which must be refused). None differs. Before this check, 8,764 did:
//! SAT_SYM at MIN, reciprocals (rounded by Q instead of truncated),
//! magnitudes of 2^126 and more under WRAP, NaN and infinities, and
//! accumulators that wrapped past 127 bits.
//!
//! One deliberate difference remains: `1 / 0` overflows positively here
//! (MAX under SAT), where HLS's C-simulation traps on the integer division.
//! Widths are at most 64 bits and |F| at most 64 ([`Format::check`]).

use std::fmt;

/// Quantisation modes (the `Q` parameter).
pub mod q {
    pub const TRN: u8 = 0;
    pub const TRN_ZERO: u8 = 1;
    pub const RND: u8 = 2;
    pub const RND_ZERO: u8 = 3;
    pub const RND_MIN_INF: u8 = 4;
    pub const RND_INF: u8 = 5;
    pub const RND_CONV: u8 = 6;
    pub const NAMES: [&str; 7] = [
        "AP_TRN",
        "AP_TRN_ZERO",
        "AP_RND",
        "AP_RND_ZERO",
        "AP_RND_MIN_INF",
        "AP_RND_INF",
        "AP_RND_CONV",
    ];
}

/// Overflow modes (the `O` parameter).
pub mod o {
    pub const WRAP: u8 = 0;
    pub const SAT: u8 = 1;
    pub const SAT_ZERO: u8 = 2;
    pub const SAT_SYM: u8 = 3;
    pub const NAMES: [&str; 4] = ["AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM"];
}

/// A fixed-point format known at run time: what device cards name and the
/// model costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    /// Total bits, 1 to 64.
    pub width: u32,
    /// Integer bits, the sign included; may exceed `width` or be negative.
    pub integer: i32,
    pub quant: u8,
    pub overflow: u8,
}

impl Format {
    /// Fraction bits `W - I`.
    pub fn frac(&self) -> i32 {
        self.width as i32 - self.integer
    }

    /// The value of one least significant bit, `2^-F`.
    pub fn lsb(&self) -> f64 {
        (-(self.frac() as f64)).exp2()
    }

    /// The largest error quantisation can make: one LSB when truncating,
    /// half an LSB when rounding.
    pub fn quant_error(&self) -> f64 {
        if self.quant <= q::TRN_ZERO {
            self.lsb()
        } else {
            self.lsb() / 2.0
        }
    }

    /// The largest error of a reciprocal ([`Format::recip_raw`]): HLS
    /// truncates the quotient toward zero at max(F, 0) fraction bits, so
    /// under one LSB for F >= 0 whatever Q; for F < 0 under 1 (the integer
    /// truncation) plus Q's error.
    pub fn recip_error(&self) -> f64 {
        if self.frac() >= 0 {
            self.lsb()
        } else {
            1.0 + self.quant_error()
        }
    }

    /// The smallest and largest raw values.
    pub fn raw_range(&self) -> (i128, i128) {
        let max = (1i128 << (self.width - 1)) - 1;
        (-max - 1, max)
    }

    /// Largest representable value.
    pub fn max_value(&self) -> f64 {
        self.raw_range().1 as f64 * self.lsb()
    }

    /// Whether the format is usable: 1 <= W <= 64 and |F| <= 64, known modes.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.width) {
            return Err(format!("width {} is outside 1..=64", self.width));
        }
        if self.frac().abs() > 64 {
            return Err(format!(
                "{} fraction bits (W - I) are outside -64..=64",
                self.frac()
            ));
        }
        if self.quant as usize >= q::NAMES.len() || self.overflow as usize >= o::NAMES.len() {
            return Err("unknown quantisation or overflow mode".into());
        }
        Ok(())
    }

    /// Parses `ap_fixed<18,8>` or `ap_fixed<18,8,AP_RND_CONV,AP_SAT>`.
    pub fn parse(text: &str) -> Result<Format, String> {
        let body = text
            .trim()
            .strip_prefix("ap_fixed<")
            .and_then(|s| s.strip_suffix('>'))
            .ok_or_else(|| format!("'{text}' is not of the form ap_fixed<W,I[,Q[,O]]>"))?;
        let parts: Vec<&str> = body.split(',').map(str::trim).collect();
        if parts.len() < 2 || parts.len() > 4 {
            return Err(format!("'{text}': ap_fixed takes 2 to 4 parameters here"));
        }
        let width = parts[0]
            .parse()
            .map_err(|_| format!("'{text}': bad width"))?;
        let integer = parts[1]
            .parse()
            .map_err(|_| format!("'{text}': bad integer bits"))?;
        let find = |names: &[&str], s: &str| {
            names
                .iter()
                .position(|n| *n == s)
                .map(|p| p as u8)
                .ok_or_else(|| format!("'{text}': unknown mode '{s}'; valid: {}", names.join(", ")))
        };
        let quant = parts.get(2).map_or(Ok(q::TRN), |s| find(&q::NAMES, s))?;
        let overflow = parts.get(3).map_or(Ok(o::WRAP), |s| find(&o::NAMES, s))?;
        let f = Format {
            width,
            integer,
            quant,
            overflow,
        };
        f.check().map_err(|e| format!("'{text}': {e}"))?;
        Ok(f)
    }

    /// Quantises the exact value `raw * 2^-frac` into this format and
    /// returns the raw W-bit result: quantisation mode first, then the
    /// overflow mode on the result (a rounding carry can overflow too).
    pub fn quantize(&self, raw: i128, frac: i32) -> i64 {
        if raw == 0 {
            return 0;
        }
        let shift = frac - self.frac();
        let (min, max) = self.raw_range();
        let q = if shift <= 0 {
            let s = (-shift) as u32;
            match raw.checked_shl(s).filter(|v| v >> s == raw) {
                Some(v) => v,
                // Too large for 127 bits: certainly out of range. WRAP keeps
                // the low bits of the exact value, which a wrapping shift has
                // (none below bit 128 when s >= 128).
                None if self.overflow == o::WRAP => {
                    if s >= 128 {
                        0
                    } else {
                        raw.wrapping_shl(s)
                    }
                }
                None => {
                    if raw < 0 {
                        i128::MIN
                    } else {
                        i128::MAX
                    }
                }
            }
        } else {
            round_shift(raw, shift as u32, self.quant)
        };
        let out = match self.overflow {
            // ap_fixed.h turns every negative result at or below MIN into
            // MIN | 1: -MAX, or MIN itself at W = 1 (where MIN | 1 is MIN).
            o::SAT_SYM if q <= min => min | 1,
            _ if q < min || q > max => match self.overflow {
                o::SAT | o::SAT_SYM => q.clamp(min, max),
                o::SAT_ZERO => 0,
                _ => {
                    // WRAP: the low W bits, sign-extended.
                    let s = 128 - self.width;
                    (q << s) >> s
                }
            },
            _ => q,
        };
        out as i64
    }

    /// `x` in this format as `ap_fixed`'s constructor from `double`
    /// computes it: a finite `x` is exact rounding by Q, then O (huge
    /// magnitudes too: WRAP keeps the low W bits of the exact value, which
    /// are zero once `x` is a multiple of 2^(W - F)). The header reads NaN
    /// and the infinities by their bits, as ±1.m x 2^1024 (the sign bit
    /// and the 52 stored bits, the implicit one set): under SAT they
    /// saturate by the sign bit (a NaN with the sign bit set, as x86's
    /// 0.0/0.0 is, gives MIN), under SAT_SYM ±MAX, under SAT_ZERO and WRAP
    /// 0.
    pub fn from_f64(&self, x: f64) -> i64 {
        let (mant, exp) = decompose(x);
        self.quantize(mant as i128, -exp)
    }

    pub fn to_f64(&self, raw: i64) -> f64 {
        raw as f64 * self.lsb()
    }

    /// `T(1) / x` for `x` of this format (raw `raw`), as `ap_fixed.h`'s
    /// C-simulation computes it: `T(1)` is 1 assigned to the format (under
    /// O: it saturates or wraps when I <= 1); `operator/` shifts the
    /// dividend's raw value up by max(F, 0) bits in a W + max(F, 0)-bit
    /// integer and divides the raw values truncating toward zero
    /// (`ap_private::sdiv`), giving a quotient with max(F, 0) fraction bits
    /// (the header's `RType::div`, `ap_fixed<W + max(F, 0) + 1, W + 1>` with
    /// default modes); assigning it to the format applies Q (only when F <
    /// 0 does it have more fraction bits) and O. So for F >= 0 the result
    /// is truncated toward zero whatever Q says:
    /// `ap_fixed<18,8,AP_RND_CONV,AP_SAT>(1) / 1.5` is 0.666015625.
    ///
    /// A deliberate difference: 1/0 overflows positively here (SAT gives
    /// MAX), where HLS's C-simulation traps (an integer division by zero)
    /// and hardware gives whatever the divider's design does.
    pub fn recip_raw(&self, raw: i64) -> i64 {
        if raw == 0 {
            return self.quantize(i128::MAX, 0);
        }
        self.div_raw(self.quantize(1, 0), raw)
    }

    /// `a / b` for `a` and `b` of this format (raw values), assigned back
    /// to it: [`Format::recip_raw`]'s rule with any dividend (`T(1) / x` is
    /// `div_raw(T(1), x)`): the dividend's raw value shifted up by max(F, 0)
    /// bits in a W + max(F, 0)-bit integer, the raw values divided
    /// truncating toward zero, then Q and O. A division by zero overflows
    /// by the dividend's sign (0 / 0 is 0), where HLS's C-simulation traps.
    pub fn div_raw(&self, a: i64, b: i64) -> i64 {
        if b == 0 {
            return self.quantize(a.signum() as i128 * i128::MAX, 0);
        }
        let up = self.frac().max(0) as u32;
        // |a| <= 2^(W-1) and W + up <= 128: exact in i128.
        let q = ((a as i128) << up) / b as i128;
        let s = 128 - (self.width + up);
        self.quantize((q << s) >> s, up as i32)
    }

    /// Whether [`Format::sqrt_raw`] emulates `hls::sqrt` in this format:
    /// Vivado HLS's `hls_sqrt.h` (`sqrt_fixed`) returns 0 when I > 34 or
    /// F > 32 and serves F = 0 with I <= 13, and F <= 4 with I <= 5, from
    /// tables this emulation does not copy; I <= 0 has its own branch.
    pub fn sqrt_supported(&self) -> Result<(), String> {
        let (i, f) = (self.integer, self.frac());
        if i > 34 || !(1..=32).contains(&f) || i < 1 || (f <= 4 && i <= 5) {
            return Err(format!(
                "{}: hls::sqrt is emulated for 1 <= I <= 34 and 1 <= F <= 32 (not F <= 4 with I <= 5)",
                self.name()
            ));
        }
        Ok(())
    }

    /// `hls::sqrt(x)` for `x` of this format (raw `raw`), as `hls_sqrt.h`'s
    /// `sqrt_fixed` computes it in its digit-recurrence branch: 0 for x <=
    /// 0; else the root to F + 1 fraction bits by a restoring recurrence
    /// (the exact floor), plus 2^-(F+1), truncated to F bits: floor(sqrt(x)
    /// 2^F + 1/2), the root rounded to nearest whatever Q (a tie would need
    /// raw 2^F = k^2 + k + 1/4, impossible). Here it is computed as
    /// floor((isqrt(raw 2^(F+2)) + 1) / 2), the same integer; 0 where
    /// [`Format::sqrt_supported`] fails (as the header does for I > 34 or
    /// F > 32).
    pub fn sqrt_raw(&self, raw: i64) -> i64 {
        if raw <= 0 || self.sqrt_supported().is_err() {
            return 0;
        }
        let y = ((raw as u128) << (self.frac() + 2)).isqrt();
        ((y + 1) >> 1) as i64
    }

    /// `ap_fixed<W,I,Q,O>` as HLS code writes it.
    pub fn name(&self) -> String {
        format!(
            "ap_fixed<{},{},{},{}>",
            self.width,
            self.integer,
            q::NAMES[self.quant as usize],
            o::NAMES[self.overflow as usize]
        )
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `x = mant * 2^exp` exactly for finite `x`; NaN and the infinities as
/// `ap_fixed.h` reads them: ±(2^52 + stored bits) x 2^972, the exponent
/// field taken as 1024 with the implicit bit set.
fn decompose(x: f64) -> (i64, i32) {
    if x == 0.0 {
        return (0, 0);
    }
    let bits = x.to_bits();
    let sign = if bits >> 63 == 1 { -1 } else { 1 };
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = (bits & ((1u64 << 52) - 1)) as i64;
    let (mant, exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp_bits - 1075)
    };
    (sign * mant, exp)
}

/// `raw / 2^shift` rounded by quantisation mode `mode`, `shift > 0`.
fn round_shift(raw: i128, shift: u32, mode: u8) -> i128 {
    use std::cmp::Ordering;
    // floor and how the remainder compares with half an output LSB.
    let (floor, exact, half_cmp) = if shift >= 127 {
        // The value is in [-1, 1) output LSBs: floor 0 or -1, and the
        // remainder (raw, or 2^shift + raw) compared with 2^(shift-1) is raw
        // compared with 2^(shift-1), or with -2^(shift-1), without forming
        // either where it does not fit.
        if raw >= 0 {
            let cmp = if shift == 127 {
                raw.cmp(&(1i128 << 126))
            } else {
                Ordering::Less
            };
            (0, raw == 0, cmp)
        } else {
            let cmp = match shift {
                127 => raw.cmp(&-(1i128 << 126)),
                128 => raw.cmp(&i128::MIN),
                _ => Ordering::Greater,
            };
            (-1, shift == 127 && raw == i128::MIN, cmp)
        }
    } else {
        let floor = raw >> shift;
        let rem = raw - (floor << shift);
        let half = 1i128 << (shift - 1);
        (floor, rem == 0, rem.cmp(&half))
    };
    if exact {
        return floor;
    }
    let up = floor + 1;
    match mode {
        q::TRN => floor,
        q::TRN_ZERO => {
            if floor < 0 {
                up
            } else {
                floor
            }
        }
        _ => match half_cmp {
            Ordering::Less => floor,
            Ordering::Greater => up,
            Ordering::Equal => match mode {
                q::RND => up,
                q::RND_ZERO => {
                    if floor < 0 {
                        up
                    } else {
                        floor
                    }
                }
                q::RND_MIN_INF => floor,
                q::RND_INF => {
                    if floor < 0 {
                        floor
                    } else {
                        up
                    }
                }
                _ => {
                    // RND_CONV: ties to even.
                    if floor & 1 == 0 { floor } else { up }
                }
            },
        },
    }
}

/// An exact intermediate value `raw * 2^-frac`: the full-precision result of
/// `ap_fixed` products and sums before assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wide {
    pub raw: i128,
    pub frac: i32,
}

impl Wide {
    pub const ZERO: Wide = Wide { raw: 0, frac: 0 };

    /// The exact sum; the operand with fewer fraction bits is shifted up.
    /// Err when it (or an operand so shifted) needs more than 127 bits.
    pub fn checked_plus(self, o: Wide) -> Result<Wide, WideOverflow> {
        let frac = self.frac.max(o.frac);
        let raw = self
            .aligned(frac)?
            .checked_add(o.aligned(frac)?)
            .ok_or(WideOverflow)?;
        Ok(Wide { raw, frac })
    }

    /// [`Wide::checked_plus`], stopping the emulation on overflow
    /// ([`WideOverflow::raise`]): kernel code sums through [`Scalar`]
    /// without a `Result` at every addition.
    ///
    /// [`Scalar`]: crate::fpga::Scalar
    #[inline]
    pub fn plus(self, o: Wide) -> Wide {
        if self.frac == o.frac {
            // The common case (a dot product's terms): no shift.
            match self.raw.checked_add(o.raw) {
                Some(raw) => Wide {
                    raw,
                    frac: self.frac,
                },
                None => WideOverflow.raise(),
            }
        } else {
            self.checked_plus(o).unwrap_or_else(|e| e.raise())
        }
    }

    /// The raw value at `frac >= self.frac` fraction bits.
    fn aligned(self, frac: i32) -> Result<i128, WideOverflow> {
        let s = (frac - self.frac) as u32;
        if self.raw == 0 || s == 0 {
            return Ok(self.raw);
        }
        self.raw
            .checked_shl(s)
            .filter(|v| v >> s == self.raw)
            .ok_or(WideOverflow)
    }

    pub fn to_f64(self) -> f64 {
        self.raw as f64 * (-(self.frac as f64)).exp2()
    }
}

/// An exact intermediate (a sum, a dot product) that needs more than the
/// 127 bits of [`Wide`]. HLS's own sum types grow as needed, so wrapping
/// would be a silent error of the emulation (a sign flip); it stops instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "an exact intermediate sum needs more than 127 bits, the width of the emulation's accumulator (ap_fixed's own sum type would be wider; the emulation refuses rather than wrap)"
)]
pub struct WideOverflow;

impl WideOverflow {
    /// Unwinds with this as the payload; [`catch_overflow`] around the
    /// emulation turns it back into this error (the fpga-emu backend does).
    pub fn raise(self) -> ! {
        std::panic::panic_any(self)
    }
}

/// Runs `f`, returning a [`WideOverflow`] that it raised (on any thread
/// of a rayon pool it used: rayon hands the payload on) as an error; any
/// other panic continues.
pub fn catch_overflow<T>(f: impl FnOnce() -> T) -> Result<T, WideOverflow> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => match payload.downcast::<WideOverflow>() {
            Ok(e) => Err(*e),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// `ap_fixed<W, I, Q, O>`, signed. `Q` and `O` are the constants of [`q`]
/// and [`o`]; the defaults are those of HLS (`AP_TRN`, `AP_WRAP`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ApFixed<const W: u32, const I: i32, const Q: u8 = { q::TRN }, const O: u8 = { o::WRAP }>
{
    raw: i64,
}

impl<const W: u32, const I: i32, const Q: u8, const O: u8> ApFixed<W, I, Q, O> {
    pub const FORMAT: Format = Format {
        width: W,
        integer: I,
        quant: Q,
        overflow: O,
    };
    /// Fraction bits.
    pub const F: i32 = W as i32 - I;

    /// The value with this raw bit pattern (taken modulo 2^W).
    pub fn from_raw(raw: i64) -> Self {
        ApFixed {
            raw: Self::FORMAT.quantize(raw as i128, Self::F),
        }
    }

    pub fn raw(self) -> i64 {
        self.raw
    }

    pub fn from_f64(x: f64) -> Self {
        ApFixed {
            raw: Self::FORMAT.from_f64(x),
        }
    }

    pub fn to_f64(self) -> f64 {
        Self::FORMAT.to_f64(self.raw)
    }

    /// Assignment from an exact intermediate (quantise, then overflow).
    pub fn from_wide(w: Wide) -> Self {
        ApFixed {
            raw: Self::FORMAT.quantize(w.raw, w.frac),
        }
    }

    pub fn wide(self) -> Wide {
        Wide {
            raw: self.raw as i128,
            frac: Self::F,
        }
    }

    /// The full-precision product (2W bits, 2F fraction bits).
    pub fn mul_wide(self, o: Self) -> Wide {
        Wide {
            raw: self.raw as i128 * o.raw as i128,
            frac: 2 * Self::F,
        }
    }

    /// Cast into another `ap_fixed` type, with that type's modes.
    pub fn cast<const W2: u32, const I2: i32, const Q2: u8, const O2: u8>(
        self,
    ) -> ApFixed<W2, I2, Q2, O2> {
        ApFixed::<W2, I2, Q2, O2>::from_wide(self.wide())
    }
}

impl<const W: u32, const I: i32, const Q: u8, const O: u8> fmt::Debug for ApFixed<W, I, Q, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.to_f64(), Self::FORMAT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The exact reference: rounding of the rational `raw / 2^shift` by
    /// comparing 2 * remainder with the divisor, in i128 without shifts.
    fn reference_round(raw: i128, shift: u32, mode: u8) -> i128 {
        let d = 1i128 << shift;
        let floor = raw.div_euclid(d);
        let rem = raw.rem_euclid(d); // 0 <= rem < d
        if rem == 0 {
            return floor;
        }
        let twice = 2 * rem;
        let value_negative = raw < 0;
        match mode {
            q::TRN => floor,
            q::TRN_ZERO => {
                if value_negative {
                    floor + 1
                } else {
                    floor
                }
            }
            _ if twice < d => floor,
            _ if twice > d => floor + 1,
            q::RND => floor + 1,
            q::RND_ZERO => {
                if value_negative {
                    floor + 1
                } else {
                    floor
                }
            }
            q::RND_MIN_INF => floor,
            q::RND_INF => {
                if value_negative {
                    floor
                } else {
                    floor + 1
                }
            }
            _ => {
                if floor.rem_euclid(2) == 0 {
                    floor
                } else {
                    floor + 1
                }
            }
        }
    }

    /// The exact reference of overflow handling, by arithmetic modulo 2^W.
    /// SAT_SYM as ap_fixed.h does it: MIN too becomes -MAX (W >= 2).
    fn reference_overflow(v: i128, width: u32, mode: u8) -> i128 {
        let min = -(1i128 << (width - 1));
        let max = (1i128 << (width - 1)) - 1;
        if mode == o::SAT_SYM && v <= min {
            return if width == 1 { min } else { -max };
        }
        if (min..=max).contains(&v) {
            return v;
        }
        match mode {
            o::SAT => {
                if v > max {
                    max
                } else {
                    min
                }
            }
            o::SAT_ZERO => 0,
            o::SAT_SYM => {
                if v > max {
                    max
                } else {
                    -max
                }
            }
            _ => {
                let m = 1i128 << width;
                let r = v.rem_euclid(m);
                if r > max { r - m } else { r }
            }
        }
    }

    fn format() -> impl Strategy<Value = Format> {
        (1u32..=64, -8i32..=40, 0u8..7, 0u8..4).prop_map(|(w, f, qm, om)| Format {
            width: w,
            integer: w as i32 - f,
            quant: qm,
            overflow: om,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Every quantisation and overflow mode against the exact rational
        /// reference, on values with up to 80 fraction bits.
        #[test]
        fn quantize_matches_the_rational_reference(
            fmt in format(),
            raw in -(1i128 << 100)..(1i128 << 100),
            frac in -8i32..80,
        ) {
            let shift = frac - fmt.frac();
            let rounded = if shift > 0 {
                reference_round(raw, shift as u32, fmt.quant)
            } else {
                match 1i128.checked_shl((-shift) as u32).and_then(|m| raw.checked_mul(m)) {
                    Some(v) if -shift < 100 => v,
                    _ => return Ok(()),
                }
            };
            let want = reference_overflow(rounded, fmt.width, fmt.overflow);
            prop_assert_eq!(fmt.quantize(raw, frac) as i128, want, "{} raw {} frac {}", fmt, raw, frac);
        }

        /// Ties exercised on purpose: raw = k + half, with small k.
        #[test]
        fn ties_follow_each_mode(k in -50i128..50, shift in 1u32..20, mode in 0u8..7) {
            let raw = (k << shift) + (1i128 << (shift - 1));
            let fmt = Format { width: 64, integer: 64, quant: mode, overflow: o::SAT };
            prop_assert_eq!(fmt.quantize(raw, shift as i32) as i128, reference_round(raw, shift, mode));
        }

        /// from_f64 agrees with the exact decomposition of the double.
        #[test]
        fn from_f64_is_exact_rounding(x in -1.0e6f64..1.0e6, fmt in format()) {
            let (mant, exp) = decompose(x);
            prop_assert_eq!(mant as f64 * (exp as f64).exp2(), x);
            let got = fmt.from_f64(x);
            // x = mant * 2^exp; in units of the format's LSB: mant * 2^(exp + F).
            let e = exp + fmt.frac();
            if e < -120 {
                return Ok(()); // below the reference's i128 range (covered by quantize's test)
            }
            let rounded = if e >= 0 {
                (mant as i128) << e
            } else {
                reference_round(mant as i128, (-e) as u32, fmt.quant)
            };
            let want = reference_overflow(rounded, fmt.width, fmt.overflow);
            prop_assert_eq!(got as i128, want);
        }

        /// The reciprocal is HLS's `T(1) / x`: for 0 <= F and I >= 2 (1 in
        /// range), the quotient 2^(2F) / raw truncated toward zero, then O.
        #[test]
        fn recip_truncates_the_exact_quotient(
            fmt in format().prop_filter("1 in range, F >= 0", |f| (0..=40).contains(&f.frac()) && f.integer >= 2),
            raw in -(1i64 << 40)..(1i64 << 40),
        ) {
            let raw = raw.clamp(fmt.raw_range().0.max(i64::MIN as i128) as i64, fmt.raw_range().1.min(i64::MAX as i128) as i64);
            prop_assume!(raw != 0);
            let num = 1i128 << (2 * fmt.frac()) as u32;
            let toward_zero = num / raw as i128;
            let want = reference_overflow(toward_zero, fmt.width, fmt.overflow);
            prop_assert_eq!(fmt.recip_raw(raw) as i128, want, "{} raw {}", fmt, raw);
        }

        /// Sums are exact or an error, never a wrap: against the sum in
        /// i128 arithmetic of values up to 2^126.
        #[test]
        fn sums_are_exact_or_refused(
            a in -(1i128 << 126)..(1i128 << 126),
            b in -(1i128 << 126)..(1i128 << 126),
            fa in -4i32..8,
            fb in -4i32..8,
        ) {
            let got = Wide { raw: a, frac: fa }.checked_plus(Wide { raw: b, frac: fb });
            let frac = fa.max(fb);
            let exact = a
                .checked_mul(1i128 << (frac - fa))
                .zip(b.checked_mul(1i128 << (frac - fb)))
                .and_then(|(x, y)| x.checked_add(y));
            prop_assert_eq!(got.ok(), exact.map(|raw| Wide { raw, frac }));
        }

        /// Products are exact and a product cast back rounds once.
        #[test]
        fn products_are_full_precision(a in -(1i64 << 17)..(1i64 << 17), b in -(1i64 << 17)..(1i64 << 17)) {
            type T = ApFixed<18, 8, { q::RND_CONV }, { o::SAT }>;
            let (x, y) = (T::from_raw(a), T::from_raw(b));
            let p = x.mul_wide(y);
            prop_assert_eq!(p.raw, a as i128 * b as i128);
            prop_assert_eq!(p.frac, 20);
            let want = reference_overflow(reference_round(a as i128 * b as i128, 10, q::RND_CONV), 18, o::SAT);
            prop_assert_eq!(T::from_wide(p).raw() as i128, want);
        }
    }

    /// A dot product beyond 127 bits stops with WideOverflow (here from a
    /// rayon worker), which catch_overflow returns; it never wraps.
    #[test]
    fn overflowing_accumulators_are_an_error() {
        use crate::fpga::Scalar;
        use rayon::prelude::*;
        type T = ApFixed<64, 32>;
        let big = T::from_raw(i64::MIN);
        // Two products of 2^126 each: 2^127 does not fit.
        let acc = T::mul_acc(T::wide_zero(), big, big);
        assert_eq!(acc.raw, 1i128 << 126);
        let caught = catch_overflow(|| {
            (0..4)
                .into_par_iter()
                .map(|_| T::from_wide(T::mul_acc(acc, big, big)))
                .collect::<Vec<T>>()
        });
        assert_eq!(caught, Err(WideOverflow));
        // Aligned to 64 fraction bits: 2^62 becomes 2^126 (fits; the sum
        // does not), 2^63 becomes 2^127 (does not fit), 1 becomes 2^64.
        let at0 = |raw| Wide { raw, frac: 0 };
        assert_eq!(acc.checked_plus(at0(1 << 62)), Err(WideOverflow));
        assert_eq!(T::wide_zero().checked_plus(at0(1 << 63)), Err(WideOverflow));
        assert_eq!(
            acc.checked_plus(at0(1)).map(|w| w.raw),
            Ok((1 << 126) + (1 << 64))
        );
        assert_eq!(catch_overflow(|| 7), Ok(7));
        let other = std::panic::catch_unwind(|| catch_overflow(|| panic!("not an overflow")));
        assert!(other.is_err(), "other panics pass through");
    }

    #[test]
    fn hand_checked_examples() {
        // UG1399 style: ap_fixed<4,2> has an LSB of 0.25 and range [-2, 1.75].
        type T = ApFixed<4, 2>;
        assert_eq!(T::from_f64(0.3).to_f64(), 0.25); // TRN
        assert_eq!(T::from_f64(-0.3).to_f64(), -0.5); // TRN toward -inf
        assert_eq!(T::from_f64(2.0).to_f64(), -2.0); // WRAP
        type S = ApFixed<4, 2, { q::RND }, { o::SAT }>;
        assert_eq!(S::from_f64(0.375).to_f64(), 0.5); // tie up
        assert_eq!(S::from_f64(-0.375).to_f64(), -0.25); // tie toward +inf
        assert_eq!(S::from_f64(7.0).to_f64(), 1.75);
        assert_eq!(S::from_f64(-7.0).to_f64(), -2.0);
        type C = ApFixed<4, 2, { q::RND_CONV }, { o::SAT_SYM }>;
        assert_eq!(C::from_f64(0.375).to_f64(), 0.5); // tie to even (2 * 0.25)
        assert_eq!(C::from_f64(0.625).to_f64(), 0.5); // tie to even
        assert_eq!(C::from_f64(-7.0).to_f64(), -1.75); // -MAX, not MIN
        // ap_fixed.h: ap_fixed<4,2,AP_TRN,AP_SAT_SYM>(-2.0) is -1.75: an
        // in-range MIN becomes -MAX as well.
        assert_eq!(C::from_f64(-2.0).to_f64(), -1.75);
        type Y = ApFixed<4, 2, { q::TRN }, { o::SAT_SYM }>;
        assert_eq!(Y::from_f64(-2.0).to_f64(), -1.75);
        // ap_fixed.h reads NaN and infinities as ±1.m x 2^1024: SAT
        // saturates by the sign bit, WRAP gives 0 (as for every value
        // that is a multiple of 2^(W - F)).
        assert_eq!(S::from_f64(f64::NAN).to_f64(), 1.75);
        assert_eq!(S::from_f64(-f64::NAN).to_f64(), -2.0);
        assert_eq!(S::from_f64(f64::NEG_INFINITY).to_f64(), -2.0);
        assert_eq!(T::from_f64(f64::INFINITY).to_f64(), 0.0);
        assert_eq!(T::from_f64(f64::NAN).to_f64(), 0.0);
        // WRAP keeps the low W bits of huge values (2^126 and up too).
        assert_eq!(T::from_f64(2f64.powi(200)).to_f64(), 0.0);
        type B = ApFixed<64, 64>;
        assert_eq!(B::from_f64(2f64.powi(126) * 3.0).raw(), 0);
        assert_eq!(B::from_f64(-(2f64.powi(62) * 3.0)).raw(), 1 << 62);
        assert_eq!(B::from_f64(2f64.powi(127) + 2f64.powi(80) * 5.0).raw(), 0);
        // LSB 2^36: 2^130 + 2^99 is raw 2^94 + 2^63, whose low 64 bits are MIN.
        let huge = 2f64.powi(130) + 2f64.powi(99);
        assert_eq!(ApFixed::<64, 100>::from_f64(huge).raw(), i64::MIN);
        type Z = ApFixed<4, 2, { q::RND_ZERO }, { o::SAT_ZERO }>;
        assert_eq!(Z::from_f64(-0.375).to_f64(), -0.25);
        assert_eq!(Z::from_f64(0.375).to_f64(), 0.25);
        assert_eq!(Z::from_f64(9.0).to_f64(), 0.0);
        // A rounding carry that overflows saturates.
        assert_eq!(S::from_f64(1.99).to_f64(), 1.75);
        let f = Format::parse("ap_fixed<18, 8, AP_RND_CONV, AP_SAT>").unwrap();
        assert_eq!(f, ApFixed::<18, 8, { q::RND_CONV }, { o::SAT }>::FORMAT);
        assert_eq!(f.lsb(), 1.0 / 1024.0);
        assert!(Format::parse("ap_fixed<65,8>").is_err());
        assert!(Format::parse("ap_fixed<18,8,AP_FOO>").is_err());
    }
}
