//! `hough`: Hough-transform track finding, as trigger and online
//! reconstruction run it (e.g. the CMS L1 track trigger's r-phi Hough
//! transform on FPGAs).
//!
//! A track from the beam line with transverse momentum pT crosses a cylinder
//! of radius r at `phi = phi0 - C r q/pT` (the small-curvature expansion,
//! C = 0.3 B / 2 = 3e-4 rad per mm per GeV^-1 in 2 T). Every hit votes, in
//! each of `qbins` q/pT bins, for the phi0 bin it implies: the accumulator
//! counts votes per (q/pT, phi0) bin, and bins where several layers agree are
//! track candidates. Arithmetic is integer, as on FPGAs: angles are u32
//! fixed point (2^32 = 2 pi, so phi wraps for free), radii u32 mm, the slope
//! of each q/pT bin a wrapping u32, and `phi0 = phi + slope * r` in wrapping
//! u32 arithmetic; the phi0 bin is its top `phibits` bits. Results are exact.
//!
//! Peaks: a bin is a peak when it has at least `threshold` votes and is a
//! local maximum of its 8 neighbours (phi wraps, q/pT does not), strictly
//! greater than the neighbours before it (previous q/pT row, or same row and
//! previous phi) and at least equal to those after, so a plateau gives one
//! peak. Output: `acc` (votes per bin) and `peaks` (the votes where a peak,
//! else 0), both `[q bin][phi bin]`.
//!
//! The CPU implementation gives each thread whole q/pT rows (a row is
//! private, so no atomics); GPUs build each row's histogram for a chunk of
//! hits in workgroup memory with local atomics and add it to the global
//! accumulator with u32 atomics.
//!
//! Verification: both outputs exactly equal to the reference.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, groups_for, param_u32,
};
use crate::kernels::BuiltinKernel;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("hough", Hough, ["hough/fpga.rs"]);

/// phi = phi0 - CURVATURE * r * q/pT, rad per mm per GeV^-1 (2 T).
pub const CURVATURE: f64 = 3e-4;
/// q/pT range of the accumulator (and of the tracks), GeV^-1: pT > 2 GeV.
pub const QPT_MAX: f64 = 0.5;
/// Radius of the first layer and the layer spacing, mm.
pub const R0: u32 = 200;
pub const DR: u32 = 100;
/// Hit resolution in r-phi, mm.
const SIGMA_RPHI: f64 = 0.1;
const MAX_HITS: usize = 1 << 28;
const MAX_QBINS: usize = 4096;
/// Hits per GPU workgroup of the fill dispatch (256 work-items x 16).
pub const HITS_PER_GROUP: usize = 4096;
/// q rows per GPU workgroup of the fill dispatch (each hit read once for all).
const ROWS_PER_GROUP: u32 = 4;

pub struct Hough;

#[derive(Debug, Clone, Copy)]
struct Shape {
    tracks: usize,
    noise: usize,
    layers: usize,
    qbins: usize,
    phibits: u32,
    threshold: u32,
}

impl Shape {
    fn from_size(size: &SizeSpec) -> Result<Shape> {
        let s = Shape {
            tracks: size.usize("tracks", MAX_HITS)?,
            noise: size.usize("noise", MAX_HITS)?,
            layers: size.usize("layers", 64)?,
            qbins: size.usize("qbins", MAX_QBINS)?,
            // 2^11 phi bins of u32 fit the GPU's workgroup memory (8 KiB).
            phibits: size.usize("phibits", 11)? as u32,
            threshold: size.usize("threshold", 1 << 20)? as u32,
        };
        if s.phibits < 3 || s.hits() > MAX_HITS {
            return Err(Error::InvalidValue {
                what: format!("{}: hough size", size.source),
                message: "phibits must be 3..=11 and hits at most 2^28".into(),
            });
        }
        Ok(s)
    }

    fn hits(&self) -> usize {
        self.tracks * self.layers + self.noise
    }

    fn nphi(&self) -> usize {
        1 << self.phibits
    }

    fn bins(&self) -> usize {
        self.qbins * self.nphi()
    }
}

/// An angle in u32 fixed point (2^32 = 2 pi), wrapped.
fn angle(phi: f64) -> u32 {
    let turns = (phi / std::f64::consts::TAU).rem_euclid(1.0);
    ((turns * 4_294_967_296.0).round() as u64 & 0xffff_ffff) as u32
}

/// The slope of q/pT bin `b` (its centre) in fixed-point angle per mm.
fn slope(b: usize, qbins: usize) -> u32 {
    let qpt = -QPT_MAX + (b as f64 + 0.5) * 2.0 * QPT_MAX / qbins as f64;
    let s = (CURVATURE * qpt / std::f64::consts::TAU * 4_294_967_296.0).round() as i64;
    s as u32
}

/// The phi0 bin that hit (r, phi) votes for with `slope`.
#[inline(always)]
fn bin(r: u32, phi: u32, slope: u32, shift: u32) -> usize {
    (phi.wrapping_add(slope.wrapping_mul(r)) >> shift) as usize
}

/// Whether bin (q, p) of `acc` (`qbins` rows of `nphi`) is a peak.
#[inline(always)]
fn is_peak(acc: &[u32], qbins: usize, nphi: usize, q: usize, p: usize, threshold: u32) -> bool {
    let v = acc[q * nphi + p];
    if v < threshold {
        return false;
    }
    for dq in -1i64..=1 {
        let qq = q as i64 + dq;
        if qq < 0 || qq >= qbins as i64 {
            continue;
        }
        for dp in -1i64..=1 {
            if dq == 0 && dp == 0 {
                continue;
            }
            let pp = (p as i64 + dp).rem_euclid(nphi as i64) as usize;
            let w = acc[qq as usize * nphi + pp];
            let before = dq < 0 || (dq == 0 && dp < 0);
            if (before && v <= w) || (!before && v < w) {
                return false;
            }
        }
    }
    true
}

/// The reference: accumulator and peaks, plainly, in u32 arithmetic (the
/// kernel's definition; [`reference_generic`] is the same over `Scalar`).
pub fn reference(r: &[u32], phi: &[u32], slopes: &[u32], nphi: usize, thr: u32) -> [Vec<u32>; 2] {
    let qbins = slopes.len();
    let shift = 32 - nphi.trailing_zeros();
    let mut acc = vec![0u32; qbins * nphi];
    for (q, &s) in slopes.iter().enumerate() {
        for (&r, &phi) in r.iter().zip(phi) {
            acc[q * nphi + bin(r, phi, s, shift)] += 1;
        }
    }
    let peaks = find_peaks(&acc, qbins, nphi, thr);
    [acc, peaks]
}

/// The votes where a bin is a peak, else 0.
fn find_peaks(acc: &[u32], qbins: usize, nphi: usize, thr: u32) -> Vec<u32> {
    let mut peaks = vec![0u32; qbins * nphi];
    for q in 0..qbins {
        for p in 0..nphi {
            if is_peak(acc, qbins, nphi, q, p, thr) {
                peaks[q * nphi + p] = acc[q * nphi + p];
            }
        }
    }
    peaks
}

/// A u32 phase as a signed fraction of a turn, in [-1/2, 1/2).
pub fn phase_turns(phi: u32) -> f64 {
    phi as i32 as f64 / 4_294_967_296.0
}

/// A radius (mm) in units of 2^14 mm: below 1/2 for every shape (r <= 6500).
pub fn radius_turns(r: u32) -> f64 {
    r as f64 / 16_384.0
}

/// A wrapping u32 slope (phase per mm) in turns per 2^14 mm: slope / 2^18,
/// below 1/2 in magnitude (|slope| <= 102,500 < 2^17).
pub fn slope_turns(slope: u32) -> f64 {
    slope as i32 as f64 / 262_144.0
}

/// The largest radius of `layers` layers, mm.
fn max_radius(layers: usize) -> u32 {
    R0 + DR * (layers.max(1) as u32 - 1)
}

/// The reference over any [`crate::fpga::Scalar`], inputs in turns
/// ([`phase_turns`], [`radius_turns`], [`slope_turns`]): phi0 = phi +
/// slope x r, the product exact in the wide type and one cast (HLS's
/// `phi + slope * r`), its bin the top bits of its fraction of a turn (the
/// value mod 1: in `ap_fixed<32,0,_,AP_WRAP>` the raw bits reinterpreted
/// unsigned, as a bit slice in HLS). In f64 and in `ap_fixed<32,0>` every
/// step is exact, so both equal [`reference`] bit for bit.
pub fn reference_generic<S: crate::fpga::Scalar>(
    r: &[S],
    phi: &[S],
    slopes: &[S],
    nphi: usize,
    thr: u32,
) -> [Vec<u32>; 2] {
    let qbins = slopes.len();
    let mut acc = vec![0u32; qbins * nphi];
    acc.par_chunks_mut(nphi.max(1))
        .zip(slopes.par_iter())
        .for_each(|(row, &s)| {
            for (&r, &phi) in r.iter().zip(phi) {
                let v = S::from_wide(S::mul_acc(phi.widen(), s, r)).to_f64();
                row[((v - v.floor()) * nphi as f64) as usize] += 1;
            }
        });
    let peaks = find_peaks(&acc, qbins, nphi, thr);
    [acc, peaks]
}

impl Kernel for Hough {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let s = Shape::from_size(size)?;
        let (nt, layers) = (s.tracks, s.layers);
        // Layer-major: all hits of layer 0, then layer 1, ..., then noise,
        // as a detector reads them out.
        let hits: Vec<(u32, u32)> = (0..s.hits())
            .into_par_iter()
            .map(|i| {
                if i < nt * layers {
                    let (layer, t) = (i / nt, i % nt);
                    let u = |stream: u64| crate::rng::uniform(seed, stream, t as u64);
                    let phi0 = std::f64::consts::TAU * u(1);
                    let qpt = QPT_MAX * (2.0 * u(2) - 1.0);
                    let r = R0 + DR * layer as u32;
                    let g = {
                        let u1 = 1.0 - crate::rng::uniform(seed, 3, 2 * i as u64);
                        let u2 = crate::rng::uniform(seed, 3, 2 * i as u64 + 1);
                        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
                    };
                    let phi = phi0 - CURVATURE * r as f64 * qpt + g * SIGMA_RPHI / r as f64;
                    (r, angle(phi))
                } else {
                    let j = i as u64;
                    let layer = crate::rng::bits(seed, 4, j) % layers as u64;
                    (R0 + DR * layer as u32, crate::rng::bits(seed, 5, j) as u32)
                }
            })
            .collect();
        let mut buffers = Buffers::default();
        buffers.push("r", Buffer::U32(hits.iter().map(|h| h.0).collect()));
        buffers.push("phi", Buffer::U32(hits.iter().map(|h| h.1).collect()));
        buffers.push(
            "slopes",
            Buffer::U32((0..s.qbins).map(|b| slope(b, s.qbins)).collect()),
        );
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let s = Shape::from_size(size)?;
        Ok(Work {
            flops: 0.0,
            // Hits read once, the accumulator written and read, peaks written.
            bytes: 8.0 * s.hits() as f64 + 12.0 * s.bins() as f64,
            items: (s.hits() * s.qbins) as f64,
            item_unit: "votes".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let s = Shape::from_size(size)?;
        // Hits: the generator's pairs, the inputs, the instance's copy;
        // accumulator and peaks: the instance's, the read-back, the reference.
        Ok(8 * 3 * s.hits() as u64 + 8 * 3 * s.bins() as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        let s = Shape::from_size(&inputs.size)?;
        Ok(Box::new(HoughCpu {
            s,
            r: inputs.buffers.u32("r")?.to_vec(),
            phi: inputs.buffers.u32("phi")?.to_vec(),
            slopes: inputs.buffers.u32("slopes")?.to_vec(),
            acc: vec![0; s.bins()],
            peaks: vec![0; s.bins()],
        }))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let s = Shape::from_size(&inputs.size)?;
        let (hits, bins, nphi) = (s.hits(), s.bins(), s.nphi());
        let qbins = param_u32(s.qbins, "qbins")?;
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("r", hits).u32(),
                LaunchBuffer::input("phi", hits).u32(),
                LaunchBuffer::input("slopes", s.qbins).u32(),
                LaunchBuffer::output("acc", bins).u32(),
                LaunchBuffer::output("peaks", bins).u32(),
            ],
            params: vec![
                ("nhits", Arg::U32(param_u32(hits, "hits")?)),
                ("qbins", Arg::U32(qbins)),
                ("nphi", Arg::U32(nphi as u32)),
                ("shift", Arg::U32(32 - s.phibits)),
                ("threshold", Arg::U32(s.threshold)),
            ],
            dispatches: vec![
                Dispatch {
                    entry: "clear",
                    groups: [groups_for(nphi, 256)?, qbins, 1],
                    group_size: [256, 1, 1],
                    chunk: None,
                },
                Dispatch {
                    entry: "fill",
                    groups: [
                        groups_for(hits, HITS_PER_GROUP as u32)?,
                        qbins.div_ceil(ROWS_PER_GROUP),
                        1,
                    ],
                    group_size: [256, 1, 1],
                    chunk: None,
                },
                Dispatch {
                    entry: "find_peaks",
                    groups: [groups_for(nphi, 256)?, qbins, 1],
                    group_size: [256, 1, 1],
                    chunk: None,
                },
            ],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let s = Shape::from_size(&inputs.size)?;
        let b = &inputs.buffers;
        let want = reference(
            b.u32("r")?,
            b.u32("phi")?,
            b.u32("slopes")?,
            s.nphi(),
            s.threshold,
        );
        let mut checker = Checker::new(tol);
        let nphi = s.nphi();
        for (name, want) in ["acc", "peaks"].into_iter().zip(&want) {
            let got = outputs.u32(name)?;
            if got.len() != want.len() {
                checker.check(got.len() as f64, want.len() as f64, 0.0, || {
                    format!("length of {name}")
                });
                continue;
            }
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                checker.check(g as f64, w as f64, w as f64, || {
                    format!("{name}[q {}][phi {}]", i / nphi, i % nphi)
                });
            }
        }
        let mut verdict = checker.finish();
        let found = want[1].iter().filter(|&&v| v > 0).count();
        verdict.detail = format!("{}; {found} peaks", verdict.detail);
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::HoughFpga)
    }
}

struct HoughCpu {
    s: Shape,
    r: Vec<u32>,
    phi: Vec<u32>,
    slopes: Vec<u32>,
    acc: Vec<u32>,
    peaks: Vec<u32>,
}

impl CpuInstance for HoughCpu {
    fn run(&mut self) {
        let (nphi, qbins, thr) = (self.s.nphi(), self.s.qbins, self.s.threshold);
        let shift = 32 - self.s.phibits;
        let (r, phi, slopes) = (&self.r, &self.phi, &self.slopes);
        // Each row is private to its task: plain increments, no atomics.
        self.acc
            .par_chunks_mut(nphi)
            .zip(slopes.par_iter())
            .for_each(|(row, &s)| {
                row.fill(0);
                for (&r, &phi) in r.iter().zip(phi) {
                    row[bin(r, phi, s, shift)] += 1;
                }
            });
        let acc = &self.acc;
        self.peaks
            .par_chunks_mut(nphi)
            .enumerate()
            .for_each(|(q, row)| {
                for (p, out) in row.iter_mut().enumerate() {
                    *out = if is_peak(acc, qbins, nphi, q, p, thr) {
                        acc[q * nphi + p]
                    } else {
                        0
                    };
                }
            });
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("acc", Buffer::U32(self.acc.clone()));
        out.push("peaks", Buffer::U32(self.peaks.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Registry;

    fn reg_size(name: &str) -> SizeSpec {
        Registry::builtin()
            .unwrap()
            .get("hough")
            .unwrap()
            .size(name)
            .unwrap()
    }

    #[test]
    fn fixed_point_geometry() {
        assert_eq!(angle(0.0), 0);
        assert_eq!(angle(std::f64::consts::PI), 1 << 31);
        assert_eq!(angle(-std::f64::consts::FRAC_PI_2), 3 << 30);
        // Slopes are antisymmetric about q/pT = 0.
        assert_eq!(slope(0, 4), slope(3, 4).wrapping_neg());
        // A hit at phi = 0.1 at r = 500 mm votes in q/pT bin 3 of 4 (centre
        // 0.375) for phi0 = 0.1 + 3e-4 * 500 * 0.375 = 0.15625: phi bin 25
        // of 1024.
        let want = (0.15625 / std::f64::consts::TAU * 1024.0) as usize;
        assert_eq!(want, 25);
        assert_eq!(bin(500, angle(0.1), slope(3, 4), 22), want);
    }

    #[test]
    fn hand_made_accumulator_and_peak() {
        // Four hits, one q bin (slope 0), 8 phi bins: three in bin 2, one in
        // bin 7; threshold 2: one peak, at bin 2, and bin 7 is not one.
        let bins = [2u32, 2, 2, 7];
        let phi: Vec<u32> = bins.iter().map(|b| b << 29).collect();
        let [acc, peaks] = reference(&[1; 4], &phi, &[0], 8, 2);
        assert_eq!(acc, vec![0, 0, 3, 0, 0, 0, 0, 1]);
        assert_eq!(peaks, vec![0, 0, 3, 0, 0, 0, 0, 0]);
        // A plateau of two equal bins gives one peak, the first.
        let [_, peaks] = reference(&[1; 4], &[2 << 29, 2 << 29, 3 << 29, 3 << 29], &[0], 8, 2);
        assert_eq!(peaks, vec![0, 0, 2, 0, 0, 0, 0, 0]);
    }

    /// The generic reference in f64 (every step exact: phases and products
    /// are multiples of 2^-32 below 1 in magnitude) equals the u32
    /// reference bit for bit.
    #[test]
    fn generic_reference_in_f64_equals_the_u32_one() {
        let inputs = Hough.generate(&reg_size("tiny"), 11).unwrap();
        let b = &inputs.buffers;
        let s = Shape::from_size(&inputs.size).unwrap();
        let (r, phi, slopes) = (b.u32("r").unwrap(), b.u32("phi").unwrap(), b.u32("slopes").unwrap());
        let want = reference(r, phi, slopes, s.nphi(), s.threshold);
        let f = |v: &[u32], g: fn(u32) -> f64| v.iter().map(|&x| g(x)).collect::<Vec<f64>>();
        let got = reference_generic(
            &f(r, radius_turns),
            &f(phi, phase_turns),
            &f(slopes, slope_turns),
            s.nphi(),
            s.threshold,
        );
        assert_eq!(got, want);
        assert!(want[1].iter().any(|&v| v > 0));
    }

    #[test]
    fn tracks_make_peaks_and_a_wrong_count_fails() {
        let k = Hough;
        let size = reg_size("tiny");
        let inputs = k.generate(&size, 7).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let tol = Tolerance { rel: 0.0, abs: 0.0 };
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(v.passed, "{v:?}");
        // Every hit votes once per q bin.
        let s = Shape::from_size(&size).unwrap();
        let votes: u64 = out.u32("acc").unwrap().iter().map(|&v| v as u64).sum();
        assert_eq!(votes, (s.hits() * s.qbins) as u64);
        // Most of the 13 tracks give a peak (with all 8 layers in one bin).
        let peaks = out.u32("peaks").unwrap();
        let full = peaks.iter().filter(|&&v| v >= 7).count();
        assert!((10..=20).contains(&full), "{full} peaks with >= 7 votes");
        if let Some(Buffer::U32(acc)) = out.get_mut("acc") {
            acc[5] += 1;
        }
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(!v.passed);
        assert!(v.detail.starts_with("acc[q 0][phi 5]"), "{}", v.detail);
    }
}
