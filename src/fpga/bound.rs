//! First-order error bounds by reverse-mode differentiation: [`Lin`], a
//! value of a kernel's f64 computation recorded on a per-thread tape with
//! the size of the error each operation adds when the same code runs in a
//! fixed-point [`Scalar`] `S` (its cast's rounding, an input's
//! quantisation) plus the f64 computation's own rounding. One backward pass
//! per output ([`bounds`]) gives sum_i |d out / d err_i| err_i, the bound
//! to first order (products of errors dropped). Unlike a running
//! worst-case bound, the adjoints keep the correlation of errors through
//! the computation (a rotation, an update that cancels an error).
//!
//! `Lin<S>` implements [`Scalar`] itself, so a kernel's generic reference
//! runs on it unchanged: `mul`, `from_wide`, `div` add the format's
//! error, sums and the wide type's exact products do not.

use std::cell::RefCell;
use std::marker::PhantomData;

use super::scalar::Scalar;

/// f64 unit roundoff, 2^-53.
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

/// One operation on the tape: its parents with the partial derivatives,
/// and the size of the error this operation itself adds.
#[derive(Clone, Copy)]
struct TapeNode {
    parents: [(u32, f64); 3],
    arity: u8,
    err: f64,
}

thread_local! {
    /// The tape of the computation being bounded, and the largest |value|
    /// on it.
    static TAPE: RefCell<(Vec<TapeNode>, f64)> = const { RefCell::new((Vec::new(), 0.0)) };
}

/// Clears this thread's tape before a computation is recorded.
pub fn reset() {
    TAPE.with(|t| {
        let mut t = t.borrow_mut();
        t.0.clear();
        t.1 = 0.0;
    });
}

/// The first-order bound on |out - exact| of each of `outs` recorded on
/// this thread's tape (sum over the tape of |d out / d err_i| err_i), and
/// the largest |value| on the tape.
pub fn bounds<S>(outs: &[Lin<S>]) -> (Vec<f64>, f64) {
    TAPE.with(|tape| {
        let tape = tape.borrow();
        let (nodes, largest) = (&tape.0, tape.1);
        let mut adj = vec![0.0f64; nodes.len()];
        let b = outs
            .iter()
            .map(|o| {
                adj.fill(0.0);
                adj[o.id as usize] = 1.0;
                let mut bound = 0.0;
                for i in (0..=o.id as usize).rev() {
                    let a = adj[i];
                    if a == 0.0 {
                        continue;
                    }
                    let node = &nodes[i];
                    bound += a.abs() * node.err;
                    for &(p, d) in &node.parents[..node.arity as usize] {
                        adj[p as usize] += a * d;
                    }
                }
                bound
            })
            .collect();
        (b, largest)
    })
}

/// A value of the f64 computation on this thread's tape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lin<S> {
    /// The f64 value.
    pub v: f64,
    id: u32,
    _s: PhantomData<S>,
}

impl<S: Scalar> Lin<S> {
    /// Records value `v` with its parents (id and partial derivative) and
    /// the error this operation adds.
    pub fn push(v: f64, parents: &[(Lin<S>, f64)], err: f64) -> Self {
        let mut node = TapeNode {
            parents: [(0, 0.0); 3],
            arity: parents.len() as u8,
            err,
        };
        for (slot, (p, d)) in node.parents.iter_mut().zip(parents) {
            *slot = (p.id, *d);
        }
        let id = TAPE.with(|t| {
            let mut t = t.borrow_mut();
            t.0.push(node);
            t.1 = t.1.max(v.abs());
            t.0.len() as u32 - 1
        });
        Lin {
            v,
            id,
            _s: PhantomData,
        }
    }

    /// The rounding error of one cast to `S`.
    pub fn q() -> f64 {
        S::format().map_or(0.0, |f| f.quant_error())
    }

    /// The error of one division in `S`: HLS truncates the quotient toward
    /// zero, up to one LSB, not half ([`crate::fpga::Format::recip_error`]).
    pub fn div_error() -> f64 {
        S::format().map_or(0.0, |f| f.recip_error())
    }

    /// The input `x` quantised to `S`.
    pub fn input(x: f64) -> Self {
        Self::push(x, &[], (S::from_f64(x).to_f64() - x).abs())
    }
}

impl<S: Scalar> std::ops::Add for Lin<S> {
    type Output = Self;
    /// Fixed-point sums of one format are exact.
    fn add(self, o: Self) -> Self {
        let v = self.v + o.v;
        Self::push(v, &[(self, 1.0), (o, 1.0)], v.abs() * UNIT_ROUNDOFF)
    }
}

impl<S: Scalar> std::ops::Sub for Lin<S> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        let v = self.v - o.v;
        Self::push(v, &[(self, 1.0), (o, -1.0)], v.abs() * UNIT_ROUNDOFF)
    }
}

impl<S: Scalar> std::ops::Mul for Lin<S> {
    type Output = Self;
    /// The product cast back to `S`.
    fn mul(self, o: Self) -> Self {
        let v = self.v * o.v;
        Self::push(
            v,
            &[(self, o.v), (o, self.v)],
            Self::q() + v.abs() * UNIT_ROUNDOFF,
        )
    }
}

/// The f64 computation of a kernel's generic reference, with the errors
/// of each operation in `S`: a wide value is exact (`Wide = Lin<S>`,
/// `from_wide` the one cast), `mul` a cast, `div` and `recip` truncated
/// (up to one LSB), `sqrt` rounded to nearest (`hls::sqrt`).
impl<S: Scalar> Scalar for Lin<S> {
    type Wide = Lin<S>;

    fn zero() -> Self {
        Self::push(0.0, &[], 0.0)
    }
    fn from_f64(x: f64) -> Self {
        Self::input(x)
    }
    fn to_f64(self) -> f64 {
        self.v
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
        let v = 1.0 / self.v;
        Self::push(
            v,
            &[(self, -v * v)],
            Self::div_error() + v.abs() * UNIT_ROUNDOFF,
        )
    }
    fn div(self, o: Self) -> Self {
        let v = self.v / o.v;
        Self::push(
            v,
            &[(self, 1.0 / o.v), (o, -v / o.v)],
            Self::div_error() + v.abs() * UNIT_ROUNDOFF,
        )
    }
    fn sqrt(self) -> Self {
        let v = self.v.sqrt();
        let half_lsb = S::format().map_or(0.0, |f| f.lsb() / 2.0);
        Self::push(v, &[(self, 0.5 / v)], half_lsb + v * UNIT_ROUNDOFF)
    }
    fn wide_zero() -> Self {
        Self::zero()
    }
    fn widen(self) -> Self {
        self
    }
    /// Exact in fixed point; two roundings in f64.
    fn mul_acc(acc: Self, a: Self, b: Self) -> Self {
        let p = a.v * b.v;
        let v = acc.v + p;
        Self::push(
            v,
            &[(acc, 1.0), (a, b.v), (b, a.v)],
            (p.abs() + v.abs()) * UNIT_ROUNDOFF,
        )
    }
    /// The one cast of a wide value.
    fn from_wide(w: Self) -> Self {
        Self::push(w.v, &[(w, 1.0)], Self::q())
    }
    fn format() -> Option<crate::fpga::Format> {
        S::format()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::fixed::{ApFixed, o, q};

    type T = ApFixed<18, 8, { q::RND_CONV }, { o::SAT }>;

    /// x y + x with x = 1/3 quantised (raw 341 at 10 fraction bits, error
    /// 1/3 - 341/1024 = 1/3072) and y = 3 exact, in one wide statement cast
    /// once: d/dx = y + 1 = 4, so the bound is 4/3072 + 2^-11 (the cast);
    /// the fixed-point result, 1364/1024, is off the exact 4/3 by 4/3072.
    #[test]
    fn a_bound_by_hand() {
        reset();
        let (x, y) = (Lin::<T>::from_f64(1.0 / 3.0), Lin::<T>::from_f64(3.0));
        let out = Lin::from_wide(Lin::mul_acc(x.widen(), x, y));
        let (b, largest) = bounds(&[out]);
        let want = 4.0 / 3072.0 + 2f64.powi(-11);
        assert!((b[0] - want).abs() < 1e-15, "{} against {want}", b[0]);
        assert_eq!(largest, 3.0);
        let (fx, fy) = (T::from_f64(1.0 / 3.0), T::from_f64(3.0));
        let fixed = T::from_wide(T::mul_acc(fx.widen(), fx, fy)).to_f64();
        assert_eq!(fixed, 1364.0 / 1024.0);
        assert!((fixed - 4.0 / 3.0).abs() <= b[0]);
    }
}
