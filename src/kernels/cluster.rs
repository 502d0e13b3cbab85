//! `cluster`: calorimeter cell clustering, as the ATLAS topo-clustering
//! (and CMS particle-flow clustering) runs it in the high-level trigger and
//! in offline reconstruction.
//!
//! Input: an eta x phi grid of cell energies (MeV) and the noise of each
//! cell (sigma, MeV): Gaussian noise plus electromagnetic and hadronic
//! showers. A cell takes part when `|E| > cell_sigma * sigma` (the
//! neighbour threshold, 2 sigma), a seed when `|E| > seed_sigma * sigma`
//! (4 sigma); both products are f32, so every device decides alike. Cells
//! that take part are joined with their 8 neighbours (phi wraps, eta does
//! not) into connected components, and a component is a cluster when it
//! holds a seed. Output: `labels`, per cell the smallest cell index
//! (row-major, `eta * nphi + phi`) of its cluster, or [`NONE`].
//!
//! Both parallel implementations are union-find whose trees always hang
//! the larger root under the smaller, so a root is the smallest index of
//! its tree and the label needs no further reduction. GPUs (Playne and
//! Hawick, IEEE TPDS 29(6), 2018) label 16 x 16 tiles first, in four
//! dispatches: `label_tiles` (the thresholds and union-find of each tile in
//! workgroup memory, its parents written as global indices),
//! `merge_borders` (lock-free union with `atomicMin` of the edges between
//! tiles and across the phi wrap), `flag_seeds` (seeded tile roots set
//! their root's flag bit) and `finalise` (labels from the roots). The CPU
//! labels bands of rows in parallel with a sequential union-find each,
//! joins the bands across their boundary rows, and resolves the labels in
//! place; a bit mask per row of the cells that take part lets it visit
//! only those after the (vectorised) threshold pass. Both skip neighbours
//! that are already connected through another neighbour (the decision tree
//! of Wu, Otoo and Suzuki, Pattern Anal. Applic. 12, 2009): the CPU except
//! in the first and last phi columns where the wrap-around edges live, the
//! GPU inside each tile and, between tiles, where the tile labelling has
//! joined the two ends already.
//!
//! Verification: labels exactly equal to a flood fill that shares no code
//! with either implementation.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, groups_for, param_u32,
};
use crate::kernels::BuiltinKernel;

mod fpga;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!("cluster", Cluster, ["cluster/fpga.rs"]);

/// The label of a cell in no cluster.
pub const NONE: u32 = u32::MAX;
/// Flag bit on a root's parent entry: its tree holds a seed.
const FLAG: u32 = 1 << 31;
const MASK: u32 = !FLAG;
/// Indices must stay below the flag bit (and [`NONE`]).
const MAX_CELLS: usize = 1 << 30;
/// The GPU grid is 16 x 16 cells per workgroup.
const TILE: u32 = 16;
/// The GPU's summary of a tile, in u32 words: the on-bits of its border
/// rows and columns, and a bit per tile root whose tile component holds a
/// seed (see `cluster.wgsl`).
const TILE_WORDS: usize = 16;
/// Tiles per workgroup of the border and seed dispatches, 16 work-items
/// each.
const BORDER_TILES: u32 = 4;

/// Noise of a cell at eta = 0, MeV.
const SIGMA0: f64 = 50.0;
/// The grid spans |eta| < ETA_MAX; noise grows towards the ends.
const ETA_MAX: f64 = 2.5;
/// Shower energies are log-uniform in [E_MIN, E_MAX], MeV.
const E_MIN: f64 = 1.0e3;
const E_MAX: f64 = 1.0e5;
/// Fraction of electromagnetic showers, and the lateral decay lengths of
/// electromagnetic and hadronic showers, in cells.
const EM_FRACTION: f64 = 0.6;
const LAMBDA_EM: f64 = 0.6;
const LAMBDA_HAD: f64 = 1.5;
/// Showers deposit in the cells within this many rows and columns of the
/// centre's cell.
const REACH: i64 = 6;

pub struct Cluster;

#[derive(Debug, Clone, Copy)]
struct Shape {
    neta: usize,
    nphi: usize,
    showers: usize,
    thresholds: Thresholds,
}

/// Noise multiples of the seed and neighbour thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub seed: f32,
    pub cell: f32,
}

impl Thresholds {
    /// Whether a cell takes part in clustering: `|E| > cell * sigma`.
    #[inline(always)]
    fn active(self, e: f32, s: f32) -> bool {
        e.abs() > self.cell * s
    }

    /// Whether a cell seeds a cluster: `|E| > seed * sigma`.
    #[inline(always)]
    fn seed(self, e: f32, s: f32) -> bool {
        e.abs() > self.seed * s
    }
}

impl Shape {
    fn from_size(size: &SizeSpec) -> Result<Shape> {
        // One workgroup per 16 x 16 cells: at most 65535 groups per dimension.
        let max_dim = TILE as usize * crate::kernel::MAX_GROUPS_PER_DIM as usize;
        let s = Shape {
            neta: size.usize("neta", max_dim)?,
            nphi: size.usize("nphi", max_dim)?,
            showers: size.usize("showers", MAX_CELLS)?,
            thresholds: Thresholds {
                seed: size.f64("seed_sigma", 0.0..=1000.0)? as f32,
                cell: size.f64("cell_sigma", 0.0..=1000.0)? as f32,
            },
        };
        if s.cells() > MAX_CELLS || s.thresholds.cell > s.thresholds.seed {
            return Err(Error::InvalidValue {
                what: format!("{}: cluster size", size.source),
                message: format!(
                    "at most 2^30 cells ({} x {} given), and cell_sigma at most seed_sigma",
                    s.neta, s.nphi
                ),
            });
        }
        Ok(s)
    }

    fn cells(&self) -> usize {
        self.neta * self.nphi
    }
}

/// One injected shower: centre (in cell units, eta row and phi column),
/// energy (MeV) and lateral decay length (cells).
#[derive(Debug, Clone, Copy)]
struct Shower {
    eta: f64,
    phi: f64,
    energy: f64,
    lambda: f64,
}

impl Shower {
    fn new(seed: u64, j: u64, neta: usize, nphi: usize) -> Shower {
        let u = |stream: u64| crate::rng::uniform(seed, stream, j);
        Shower {
            eta: u(3) * neta as f64,
            phi: u(4) * nphi as f64,
            energy: E_MIN * (E_MAX / E_MIN).powf(u(5)),
            lambda: if u(6) < EM_FRACTION {
                LAMBDA_EM
            } else {
                LAMBDA_HAD
            },
        }
    }

    /// Energy deposited in the cell whose centre is `deta` rows and `dphi`
    /// columns away: an exponential lateral profile normalised over the
    /// plane, exp(-r / lambda) / (2 pi lambda^2).
    fn deposit(&self, deta: f64, dphi: f64) -> f64 {
        let r = (deta * deta + dphi * dphi).sqrt();
        self.energy * (-r / self.lambda).exp() / (std::f64::consts::TAU * self.lambda * self.lambda)
    }
}

/// The noise of cell (row, column) of an `neta`-row grid: it grows with
/// |eta| (1 + (eta / 2.5)^2 / 2) and varies by +-20% from cell to cell.
fn sigma_of(seed: u64, i: usize, row: usize, neta: usize) -> f32 {
    let eta = ((row as f64 + 0.5) / neta as f64 * 2.0 - 1.0) * ETA_MAX;
    let jitter = 0.8 + 0.4 * crate::rng::uniform(seed, 1, i as u64);
    (SIGMA0 * (1.0 + 0.5 * (eta / ETA_MAX).powi(2)) * jitter) as f32
}

/// A standard normal variate for cell `i` (Box-Muller).
fn gauss(seed: u64, i: usize) -> f64 {
    let u1 = 1.0 - crate::rng::uniform(seed, 2, 2 * i as u64);
    let u2 = crate::rng::uniform(seed, 2, 2 * i as u64 + 1);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The reference: a breadth-first flood fill from every unvisited cell that
/// takes part, in index order (so the first cell of a component is its
/// smallest index), labelling the component if it holds a seed.
pub fn reference(energy: &[f32], sigma: &[f32], nphi: usize, t: Thresholds) -> Vec<u32> {
    let active: Vec<bool> = energy
        .iter()
        .zip(sigma)
        .map(|(&e, &s)| t.active(e, s))
        .collect();
    let seed: Vec<bool> = energy
        .iter()
        .zip(sigma)
        .map(|(&e, &s)| t.seed(e, s))
        .collect();
    flood_fill(&active, &seed, nphi)
}

/// The per-cell thresholds `cell * sigma` and `seed * sigma`, the f32
/// products every device decides with.
pub fn thresholds(sigma: &[f32], t: Thresholds) -> [Vec<f32>; 2] {
    [
        sigma.iter().map(|&s| t.cell * s).collect(),
        sigma.iter().map(|&s| t.seed * s).collect(),
    ]
}

/// The reference over any [`crate::fpga::Scalar`]: a cell takes part when
/// |E| > its neighbour threshold and seeds when |E| > its seed threshold
/// (both thresholds precomputed, [`thresholds`], as a trigger loads them
/// as calibration constants), compared in `S`; then the same flood fill.
/// In f64 the f32 values are exact, so it equals [`reference`] bit for bit.
pub fn reference_generic<S: crate::fpga::Scalar>(
    energy: &[S],
    t_cell: &[S],
    t_seed: &[S],
    nphi: usize,
) -> Vec<u32> {
    let abs = |e: S| if e.to_f64() < 0.0 { S::zero().sub(e) } else { e };
    let over = |t: &[S]| -> Vec<bool> {
        energy
            .iter()
            .zip(t)
            .map(|(&e, &t)| abs(e).to_f64() > t.to_f64())
            .collect()
    };
    flood_fill(&over(t_cell), &over(t_seed), nphi)
}

/// Components of the `active` cells (8 neighbours, phi wraps), labelled
/// with their smallest index when one of their cells is a `seed`.
fn flood_fill(active: &[bool], seed: &[bool], nphi: usize) -> Vec<u32> {
    let n = active.len();
    let neta = n / nphi.max(1);
    let mut labels = vec![NONE; n];
    let mut visited = vec![false; n];
    let mut queue = std::collections::VecDeque::new();
    let mut component = Vec::new();
    for start in 0..n {
        if !active[start] || visited[start] {
            continue;
        }
        visited[start] = true;
        queue.push_back(start);
        component.clear();
        let mut seeded = false;
        while let Some(i) = queue.pop_front() {
            component.push(i);
            seeded |= seed[i];
            let (row, col) = (i / nphi, i % nphi);
            for dr in -1i64..=1 {
                let r = row as i64 + dr;
                if r < 0 || r >= neta as i64 {
                    continue;
                }
                for dc in -1i64..=1 {
                    let c = (col as i64 + dc).rem_euclid(nphi as i64);
                    let j = r as usize * nphi + c as usize;
                    if active[j] && !visited[j] {
                        visited[j] = true;
                        queue.push_back(j);
                    }
                }
            }
        }
        if seeded {
            for &i in &component {
                labels[i] = start as u32;
            }
        }
    }
    labels
}

/// The root of `x` in `parent` (global indices, `base` subtracted to index
/// the slice), halving the path on the way.
#[inline(always)]
fn find_local(parent: &mut [u32], base: usize, mut x: usize) -> usize {
    loop {
        let p = (parent[x] & MASK) as usize - base;
        if p == x {
            return x;
        }
        let gp = (parent[p] & MASK) as usize - base;
        parent[x] = (gp + base) as u32;
        x = gp;
    }
}

/// Joins the trees of `x` and `y` (local indices): the larger root goes
/// under the smaller, and takes its seed flag with it.
#[inline(always)]
fn union_local(parent: &mut [u32], base: usize, x: usize, y: usize) {
    let rx = find_local(parent, base, x);
    let ry = find_local(parent, base, y);
    if rx != ry {
        let (lo, hi) = if rx < ry { (rx, ry) } else { (ry, rx) };
        let flag = parent[hi] & FLAG;
        parent[hi] = (lo + base) as u32;
        parent[lo] |= flag;
    }
}

/// Cells per word of the masks of cells that take part: bit `j` of word
/// `q` of a row is column `64 q + j`.
const WORD: usize = 64;

/// Words of the mask of one row of `w` cells.
fn words(w: usize) -> usize {
    w.div_ceil(WORD)
}

/// Calls `f(k)` for every set bit of mask word `m`, `k = k0 + bit`, in
/// increasing order.
#[inline(always)]
fn for_each_bit(mut m: u64, k0: usize, mut f: impl FnMut(usize)) {
    while m != 0 {
        f(k0 + m.trailing_zeros() as usize);
        m &= m - 1;
    }
}

/// Phase 1: a sequential union-find over one band of rows (`e`, `s`,
/// `lab` are the band's cells, `base` the global index of its first,
/// `mask` its rows' masks). Each cell gets its index (with [`FLAG`] if a
/// seed) or [`NONE`], and joins its neighbours before it within the band;
/// the band's first row leaves its upward edges to [`join_boundary`].
///
/// Row by row: first the thresholds over the whole row, branch-free so
/// that it vectorises, which also give the row's mask; then the joins of
/// the cells whose bit is set, found by counting trailing zeros (no branch
/// per cell, which would mispredict on noise).
#[inline(always)]
fn label_band_body<const FMA: bool>(
    e: &[f32],
    s: &[f32],
    w: usize,
    base: usize,
    lab: &mut [u32],
    mask: &mut [u64],
    t: Thresholds,
) {
    let rows = lab.len() / w;
    let wpr = words(w);
    for r in 0..rows {
        let row = r * w;
        let row_mask = &mut mask[r * wpr..(r + 1) * wpr];
        for (q, m) in row_mask.iter_mut().enumerate() {
            let cells = row + q * WORD..(row + (q + 1) * WORD).min(row + w);
            let k0 = cells.start;
            let mut bits = 0u64;
            for (j, ((l, &ek), &sk)) in lab[cells.clone()]
                .iter_mut()
                .zip(&e[cells.clone()])
                .zip(&s[cells])
                .enumerate()
            {
                let on = t.active(ek, sk);
                let flag = (t.seed(ek, sk) as u32) << 31;
                // NONE where off: all ones or'ed in.
                *l = ((base + k0 + j) as u32 | flag) | (on as u32).wrapping_sub(1);
                bits |= (on as u64) << j;
            }
            *m = bits;
        }
        for (q, &m) in row_mask.iter().enumerate() {
            for_each_bit(m, q * WORD, |c| join_before(lab, base, w, r, c));
        }
        if w > 1 && lab[row] != NONE && lab[row + w - 1] != NONE {
            union_local(lab, base, row, row + w - 1);
        }
    }
}

crate::multiversion!(fn label_band(e: &[f32], s: &[f32], w: usize, base: usize, lab: &mut [u32], mask: &mut [u64], t: Thresholds) = label_band_body);

/// Joins cell (r, c) of a band (local row `r`), which takes part, with its
/// neighbours before it: d (left), and a, b, cr (the row above: left,
/// centre, right). The left of column 0 (the last column) comes after it
/// and is joined at the end of the row; the band's first row has no row
/// above here.
#[inline(always)]
fn join_before(lab: &mut [u32], base: usize, w: usize, r: usize, c: usize) {
    let on = |v: u32| v != NONE;
    let k = r * w + c;
    let left = (c > 0 && on(lab[k - 1])).then(|| k - 1);
    if r == 0 {
        if let Some(d) = left {
            union_local(lab, base, k, d);
        }
        return;
    }
    let up = k - w;
    let cl = if c == 0 { w - 1 } else { c - 1 };
    let cr = if c + 1 == w { 0 } else { c + 1 };
    let a = up - c + cl;
    let cc = up - c + cr;
    if c == 0 || c + 1 == w {
        // The wrap-around columns: every edge.
        for n in [left, on(lab[a]).then_some(a), on(lab[up]).then_some(up)]
            .into_iter()
            .chain([on(lab[cc]).then_some(cc)])
            .flatten()
        {
            union_local(lab, base, k, n);
        }
    } else if on(lab[up]) {
        // a, cr and d all touch b: they are joined to it already.
        union_local(lab, base, k, up);
    } else {
        if on(lab[cc]) {
            union_local(lab, base, k, cc);
        }
        // a and d touch each other.
        if on(lab[a]) {
            union_local(lab, base, k, a);
        } else if let Some(d) = left {
            union_local(lab, base, k, d);
        }
    }
}

/// The root of `x` over the whole grid (no path compression: phase 2
/// must only ever change roots, see [`label`]).
fn find_global(parent: &[u32], mut x: usize) -> usize {
    loop {
        let p = (parent[x] & MASK) as usize;
        if p == x {
            return x;
        }
        x = p;
    }
}

/// Phase 2: joins row `r0` (a band's first row) with the row above it:
/// each cell of `r0` with its up-left, up and up-right neighbours (up
/// alone where it takes part, as in [`label_band`]; all three in the
/// wrap-around columns). Pushes every root that goes under another onto
/// `relinked`.
fn join_boundary(lab: &mut [u32], w: usize, r0: usize, relinked: &mut Vec<usize>) {
    let on = |v: u32| v != NONE;
    for c in 0..w {
        let k = r0 * w + c;
        if !on(lab[k]) {
            continue;
        }
        let cl = if c == 0 { w - 1 } else { c - 1 };
        let cr = if c + 1 == w { 0 } else { c + 1 };
        let (a, b, cc) = (k - w - c + cl, k - w, k - w - c + cr);
        let edge = c == 0 || c + 1 == w;
        for n in [b, a, cc] {
            if !on(lab[n]) || (n != b && !edge && on(lab[b])) {
                continue;
            }
            let (rx, ry) = (find_global(lab, k), find_global(lab, n));
            if rx != ry {
                let (lo, hi) = if rx < ry { (rx, ry) } else { (ry, rx) };
                let flag = lab[hi] & FLAG;
                lab[hi] = lo as u32;
                lab[lo] |= flag;
                relinked.push(hi);
            }
        }
    }
}

/// Phase 4, over one band: each cell that takes part (a set bit of
/// `mask`) gets its final label. A root is labelled by its own flag; a
/// root that phase 3 resolved holds its label with [`FLAG`], or [`NONE`];
/// any other cell points at a smaller index in the band, already final.
#[inline(always)]
fn resolve_band_body<const FMA: bool>(lab: &mut [u32], mask: &[u64], w: usize, base: usize) {
    let wpr = words(w);
    for (q, &m) in mask.iter().enumerate() {
        for_each_bit(m, q / wpr * w + q % wpr * WORD, |k| {
            let v = lab[k];
            if v == NONE {
                // A root that phase 3 found in no cluster.
                return;
            }
            let p = (v & MASK) as usize;
            lab[k] = if p == base + k {
                if v & FLAG != 0 { p as u32 } else { NONE }
            } else if v & FLAG != 0 {
                p as u32
            } else {
                lab[p - base]
            };
        });
    }
}

crate::multiversion!(fn resolve_band(lab: &mut [u32], mask: &[u64], w: usize, base: usize) = resolve_band_body);

/// Labels the `nphi`-column grid `energy`/`sigma` into `labels` with
/// `bands` bands of rows in parallel on the current rayon pool; `mask` is
/// scratch of [`mask_words`] words.
///
/// 1. Each band runs a sequential union-find ([`label_band`]): its trees
///    point only within the band, roots at their smallest index, a seed
///    flag on each root.
/// 2. Sequentially, each band's first row joins the row above
///    ([`join_boundary`]); only roots change, and each goes under a
///    smaller index, possibly in an earlier band.
/// 3. Each root that changed in 2 gets its final label (its root's index
///    if that holds a seed, else [`NONE`]), stored with [`FLAG`] once all
///    are known.
/// 4. Each band resolves its cells in place, in index order
///    ([`resolve_band`]).
pub fn label(
    energy: &[f32],
    sigma: &[f32],
    nphi: usize,
    t: Thresholds,
    bands: usize,
    labels: &mut [u32],
    mask: &mut [u64],
) {
    let n = labels.len();
    if n == 0 || nphi == 0 {
        return;
    }
    let neta = n / nphi;
    assert!(
        energy.len() == n && sigma.len() == n && mask.len() == mask_words(n, nphi),
        "label: inputs, labels and mask disagree in size"
    );
    let band_rows = neta.div_ceil(bands.clamp(1, neta));
    let chunk = band_rows * nphi;
    let mask_chunk = band_rows * words(nphi);
    labels
        .par_chunks_mut(chunk)
        .zip(mask.par_chunks_mut(mask_chunk))
        .zip(energy.par_chunks(chunk).zip(sigma.par_chunks(chunk)))
        .enumerate()
        .for_each(|(b, ((lab, m), (e, s)))| label_band(e, s, nphi, b * chunk, lab, m, t));
    let mut relinked = Vec::new();
    for r0 in (band_rows..neta).step_by(band_rows) {
        join_boundary(labels, nphi, r0, &mut relinked);
    }
    let finals: Vec<(usize, u32)> = relinked
        .iter()
        .map(|&r| {
            let root = find_global(labels, r);
            let flagged = labels[root] & FLAG != 0;
            (r, if flagged { root as u32 | FLAG } else { NONE })
        })
        .collect();
    for (r, v) in finals {
        labels[r] = v;
    }
    labels
        .par_chunks_mut(chunk)
        .zip(mask.par_chunks(mask_chunk))
        .enumerate()
        .for_each(|(b, (lab, m))| resolve_band(lab, m, nphi, b * chunk));
}

/// Words of mask scratch that [`label`] needs for `cells` cells in rows
/// of `nphi`.
pub fn mask_words(cells: usize, nphi: usize) -> usize {
    cells / nphi.max(1) * words(nphi)
}

impl Kernel for Cluster {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let s = Shape::from_size(size)?;
        let (neta, nphi) = (s.neta, s.nphi);
        let showers: Vec<Shower> = (0..s.showers as u64)
            .map(|j| Shower::new(seed, j, neta, nphi))
            .collect();
        // The showers reaching each row, in shower order (so that every row
        // adds its deposits in the same order on every machine).
        let mut by_row: Vec<Vec<u32>> = vec![Vec::new(); neta];
        for (j, sh) in showers.iter().enumerate() {
            let r0 = sh.eta.floor() as i64;
            for r in (r0 - REACH).max(0)..=(r0 + REACH).min(neta as i64 - 1) {
                by_row[r as usize].push(j as u32);
            }
        }
        let span = (2 * REACH as usize + 1).min(nphi);
        let mut energy = vec![0.0f32; s.cells()];
        let mut sigma = vec![0.0f32; s.cells()];
        energy
            .par_chunks_mut(nphi)
            .zip(sigma.par_chunks_mut(nphi))
            .enumerate()
            .for_each(|(r, (erow, srow))| {
                let mut acc: Vec<f64> = (0..nphi)
                    .map(|c| {
                        let i = r * nphi + c;
                        srow[c] = sigma_of(seed, i, r, neta);
                        srow[c] as f64 * gauss(seed, i)
                    })
                    .collect();
                for &j in &by_row[r] {
                    let sh = &showers[j as usize];
                    let deta = r as f64 + 0.5 - sh.eta;
                    let c0 = sh.phi.floor() as i64 - REACH;
                    for k in 0..span as i64 {
                        let c = (c0 + k).rem_euclid(nphi as i64) as usize;
                        // The nearest image of the centre in phi.
                        let d = c as f64 + 0.5 - sh.phi;
                        let dphi = d - nphi as f64 * (d / nphi as f64).round();
                        acc[c] += sh.deposit(deta, dphi);
                    }
                }
                for (out, v) in erow.iter_mut().zip(&acc) {
                    *out = *v as f32;
                }
            });
        let mut buffers = Buffers::default();
        buffers.push("energy", Buffer::F32(energy));
        buffers.push("sigma", Buffer::F32(sigma));
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let s = Shape::from_size(size)?;
        let cells = s.cells() as f64;
        Ok(Work {
            // Threshold tests and index arithmetic, not floating-point work.
            flops: 0.0,
            // Energy and noise read, the label written.
            bytes: 12.0 * cells,
            items: cells,
            item_unit: "cells".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let s = Shape::from_size(size)?;
        // Inputs (energy, sigma, and the generator's f64 rows), the
        // instance's copies and labels, the read-back, and the reference's
        // labels, flags and queue; and the GPU launch's tile summaries,
        // read back with the outputs (16 words per 16 x 16 tile).
        let tiles = s.nphi.div_ceil(TILE as usize) * s.neta.div_ceil(TILE as usize);
        Ok(4 * 10 * s.cells() as u64 + 4 * (tiles * TILE_WORDS) as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        let s = Shape::from_size(&inputs.size)?;
        let b = &inputs.buffers;
        let (energy, sigma) = (b.f32("energy")?, b.f32("sigma")?);
        if energy.len() != s.cells() || sigma.len() != s.cells() {
            return Err(Error::InvalidValue {
                what: "cluster inputs".into(),
                message: format!("energy and sigma must hold {} cells", s.cells()),
            });
        }
        Ok(Box::new(ClusterCpu {
            s,
            energy: crate::kernels::par::first_touch_copy(energy, s.nphi),
            sigma: crate::kernels::par::first_touch_copy(sigma, s.nphi),
            labels: vec![NONE; s.cells()],
            mask: vec![0; mask_words(s.cells(), s.nphi)],
        }))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let s = Shape::from_size(&inputs.size)?;
        let n = s.cells();
        // A workgroup per 16 x 16 tile where cells are labelled, one
        // work-item per cell; 16 work-items per tile along its borders.
        let groups = [groups_for(s.nphi, TILE)?, groups_for(s.neta, TILE)?, 1];
        let tiles = groups[0] as usize * groups[1] as usize;
        let border_groups = [
            groups_for(groups[0] as usize, BORDER_TILES)?,
            groups[1],
            1,
        ];
        let dispatch = |entry, groups, group_size| Dispatch {
            entry,
            groups,
            group_size,
            chunk: None,
        };
        Ok(Launch {
            buffers: vec![
                LaunchBuffer::input("energy", n),
                LaunchBuffer::input("sigma", n),
                LaunchBuffer::output("parent", n).u32(),
                LaunchBuffer::output("labels", n).u32(),
                LaunchBuffer::output("tiles", tiles * TILE_WORDS).u32(),
            ],
            params: vec![
                ("neta", Arg::U32(param_u32(s.neta, "neta")?)),
                ("nphi", Arg::U32(param_u32(s.nphi, "nphi")?)),
                ("seed_t", Arg::F32(s.thresholds.seed)),
                ("cell_t", Arg::F32(s.thresholds.cell)),
            ],
            dispatches: vec![
                dispatch("label_tiles", groups, [TILE, TILE, 1]),
                dispatch("merge_borders", border_groups, [TILE, BORDER_TILES, 1]),
                dispatch("flag_seeds", border_groups, [TILE, BORDER_TILES, 1]),
                dispatch("finalise", groups, [TILE, TILE, 1]),
            ],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let s = Shape::from_size(&inputs.size)?;
        let b = &inputs.buffers;
        let want = reference(b.f32("energy")?, b.f32("sigma")?, s.nphi, s.thresholds);
        let got = outputs.u32("labels")?;
        let mut checker = Checker::new(tol);
        if got.len() != want.len() {
            checker.check(got.len() as f64, want.len() as f64, 0.0, || {
                "length of labels".into()
            });
        } else {
            let nphi = s.nphi;
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                checker.check(g as f64, w as f64, w as f64, || {
                    format!("labels[eta {}][phi {}]", i / nphi, i % nphi)
                });
            }
        }
        let mut verdict = checker.finish();
        let clusters = want
            .iter()
            .enumerate()
            .filter(|&(i, &l)| l == i as u32)
            .count();
        let clustered = want.iter().filter(|&&l| l != NONE).count();
        verdict.detail = format!(
            "{}; {clusters} clusters, {clustered} cells clustered",
            verdict.detail
        );
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::ClusterFpga)
    }
}

struct ClusterCpu {
    s: Shape,
    energy: Vec<f32>,
    sigma: Vec<f32>,
    labels: Vec<u32>,
    /// Scratch: which cells take part, a bit each.
    mask: Vec<u64>,
}

impl CpuInstance for ClusterCpu {
    fn run(&mut self) {
        label(
            &self.energy,
            &self.sigma,
            self.s.nphi,
            self.s.thresholds,
            // One band per thread of the pool it runs in.
            rayon::current_num_threads(),
            &mut self.labels,
            &mut self.mask,
        );
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("labels", Buffer::U32(self.labels.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn reg_size(name: &str) -> SizeSpec {
        Registry::builtin()
            .unwrap()
            .get("cluster")
            .unwrap()
            .size(name)
            .unwrap()
    }

    fn size(neta: i64, nphi: i64, showers: i64, seed: f64, cell: f64) -> SizeSpec {
        let mut s = reg_size("tiny");
        for (k, v) in [
            ("neta", Param::Int(neta)),
            ("nphi", Param::Int(nphi)),
            ("showers", Param::Int(showers)),
            ("seed_sigma", Param::Float(seed)),
            ("cell_sigma", Param::Float(cell)),
        ] {
            s.params.insert(k.into(), v);
        }
        s
    }

    const T: Thresholds = Thresholds {
        seed: 4.0,
        cell: 2.0,
    };

    /// Labels of the parallel implementation with `bands` bands.
    fn labelled(
        energy: &[f32],
        sigma: &[f32],
        nphi: usize,
        t: Thresholds,
        bands: usize,
    ) -> Vec<u32> {
        let mut labels = vec![0xdead_beef; energy.len()];
        let mut mask = vec![0xdead_beef; mask_words(energy.len(), nphi)];
        label(energy, sigma, nphi, t, bands, &mut labels, &mut mask);
        labels
    }

    #[test]
    fn hand_made_grid_has_the_clusters_drawn() {
        // 6 x 7 cells, sigma 1:
        // - cells 0, 8, 16: a diagonal chain (8-connectivity) with a
        //   negative seed, -5: one cluster, label 0;
        // - cells 4, 11: above 2 sigma, no seed: dropped;
        // - cell 20: exactly 2 sigma: not above the neighbour threshold;
        // - cells 28, 34, 41: joined across the phi edge (28 is column 0,
        //   34 and 41 column 6), seeded by 41 (4.5): label 28, the smallest
        //   index, not the seed's;
        // - cells 31, 32: 31 is exactly 4 sigma, not a seed: dropped.
        #[rustfmt::skip]
        let energy: Vec<f32> = vec![
            -5.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0,
            0.0,  3.0, 0.0, 0.0, 3.0, 0.0, 0.0,
            0.0,  0.0, 2.5, 0.0, 0.0, 0.0, 2.0,
            0.0,  0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
            -2.5, 0.0, 0.0, 4.0, 2.1, 0.0, 2.5,
            0.0,  0.0, 0.0, 0.0, 0.0, 0.0, 4.5,
        ];
        let sigma = vec![1.0f32; energy.len()];
        let mut want = vec![NONE; energy.len()];
        for i in [0, 8, 16] {
            want[i] = 0;
        }
        for i in [28, 34, 41] {
            want[i] = 28;
        }
        assert_eq!(reference(&energy, &sigma, 7, T), want);
        for bands in [1, 2, 3, 4, 6, 10] {
            assert_eq!(
                labelled(&energy, &sigma, 7, T, bands),
                want,
                "{bands} bands"
            );
        }
        // Raising the neighbour threshold to 2.2 sigma cuts 2.1 off the
        // seedless pair and 2.0 stays out; 2.5 still joins.
        let t = Thresholds {
            seed: 4.0,
            cell: 2.2,
        };
        assert_eq!(reference(&energy, &sigma, 7, t), want);
        // A threshold of 4 sigma for seeds counts 4.5 and -5, not 4.0: with
        // a seed threshold of 3.9 the pair 31, 32 becomes a cluster.
        let t = Thresholds {
            seed: 3.9,
            cell: 2.0,
        };
        let mut want2 = want.clone();
        want2[31] = 31;
        want2[32] = 31;
        assert_eq!(reference(&energy, &sigma, 7, t), want2);
        assert_eq!(labelled(&energy, &sigma, 7, t, 3), want2);
    }

    #[test]
    fn a_u_shape_joined_in_a_later_band_takes_the_smallest_index() {
        // Two arms in rows 0..3 joined only in row 4: band 1 links both arms'
        // roots at its boundary, one of them twice over. The seed is at the
        // bottom, far from the label (cell 1).
        #[rustfmt::skip]
        let energy: Vec<f32> = vec![
            0.0, 3.0, 0.0, 0.0, 3.0, 0.0,
            0.0, 3.0, 0.0, 0.0, 3.0, 0.0,
            0.0, 3.0, 0.0, 0.0, 3.0, 0.0,
            0.0, 3.0, 0.0, 0.0, 3.0, 0.0,
            0.0, 0.0, 3.0, 3.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 9.0, 0.0, 0.0,
        ];
        let sigma = vec![1.0f32; energy.len()];
        let want: Vec<u32> = energy
            .iter()
            .map(|&e| if e > 0.0 { 1 } else { NONE })
            .collect();
        assert_eq!(reference(&energy, &sigma, 6, T), want);
        for bands in 1..=6 {
            assert_eq!(
                labelled(&energy, &sigma, 6, T, bands),
                want,
                "{bands} bands"
            );
        }
    }

    #[test]
    fn parallel_labels_equal_the_flood_fill() {
        let k = Cluster;
        // Built-in tiny; a thin grid; a single row; a single column; two
        // columns (wrap-around onto the same neighbour); dense grids where
        // most cells take part and clusters span every band.
        let sizes = [
            reg_size("tiny"),
            size(37, 3, 2, 4.0, 2.0),
            size(1, 300, 5, 4.0, 2.0),
            size(300, 1, 5, 4.0, 2.0),
            size(50, 2, 5, 4.0, 2.0),
            size(97, 101, 40, 4.0, 2.0),
            size(64, 80, 3, 1.0, 0.3),
            // Rows of exactly one and two mask words.
            size(40, 64, 6, 1.0, 0.3),
            size(33, 128, 6, 4.0, 2.0),
        ];
        for (n, size) in sizes.iter().enumerate() {
            for seed in [1u64, 2, 3] {
                let inputs = k.generate(size, seed).unwrap();
                let s = Shape::from_size(size).unwrap();
                let e = inputs.buffers.f32("energy").unwrap();
                let sg = inputs.buffers.f32("sigma").unwrap();
                let want = reference(e, sg, s.nphi, s.thresholds);
                for bands in [1, 2, 3, 8, 1000] {
                    let got = labelled(e, sg, s.nphi, s.thresholds, bands);
                    assert!(got == want, "size {n}, seed {seed}, {bands} bands");
                }
            }
        }
    }

    #[test]
    fn tiny_has_shower_clusters_noise_and_a_wrong_label_fails() {
        let k = Cluster;
        let size = reg_size("tiny");
        let inputs = k.generate(&size, 42).unwrap();
        let sigma = inputs.buffers.f32("sigma").unwrap();
        // Noise between 0.8 x 50 MeV (eta = 0) and 1.2 x 75 MeV (the ends).
        assert!(sigma.iter().all(|&s| (40.0..=90.0).contains(&s)));
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        cpu.run();
        let mut out = cpu.outputs();
        let tol = Tolerance { rel: 0.0, abs: 0.0 };
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 61 * 67);
        let labels = out.u32("labels").unwrap().to_vec();
        // About 4.6% of the noise is over 2 sigma; most of that is dropped
        // (no seed), the 9 showers give clusters of several cells each.
        let clusters = labels
            .iter()
            .enumerate()
            .filter(|&(i, &l)| l == i as u32)
            .count();
        let clustered = labels.iter().filter(|&&l| l != NONE).count();
        assert!((4..=20).contains(&clusters), "{clusters} clusters");
        assert!(
            (30..=600).contains(&clustered),
            "{clustered} cells clustered"
        );
        // Labels point at their own cluster's smallest cell.
        for (i, &l) in labels.iter().enumerate() {
            assert!(l == NONE || (l as usize <= i && labels[l as usize] == l));
        }
        // A clustered cell given the label of another cluster fails, by name.
        let i = labels
            .iter()
            .rposition(|&l| l != NONE && l as usize != 0)
            .unwrap();
        if let Some(Buffer::U32(l)) = out.get_mut("labels") {
            l[i] = 0;
        }
        let v = k.verify(&inputs, &out, tol).unwrap();
        assert!(!v.passed);
        let name = format!("labels[eta {}][phi {}]", i / 67, i % 67);
        assert!(v.detail.starts_with(&name), "{}", v.detail);
    }

    /// The generic reference in f64 decides with the f32 values exactly, so
    /// it labels as the f32 reference does, bit for bit.
    #[test]
    fn generic_reference_in_f64_equals_the_f32_one() {
        let inputs = Cluster.generate(&reg_size("tiny"), 3).unwrap();
        let s = Shape::from_size(&inputs.size).unwrap();
        let (e, sg) = (inputs.buffers.f32("energy").unwrap(), inputs.buffers.f32("sigma").unwrap());
        let want = reference(e, sg, s.nphi, s.thresholds);
        let [tc, ts] = thresholds(sg, s.thresholds);
        let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        assert_eq!(reference_generic(&f(e), &f(&tc), &f(&ts), s.nphi), want);
        assert!(want.iter().any(|&l| l != NONE));
    }

    #[test]
    fn bad_sizes_are_refused() {
        let k = Cluster;
        assert!(k.work(&size(2, 2, 1, 2.0, 4.0)).is_err());
        assert!(k.work(&size(1 << 16, 1 << 16, 1, 4.0, 2.0)).is_err());
        let w = k.work(&reg_size("medium")).unwrap();
        assert_eq!(w.items, (2048 * 2048) as f64);
        assert_eq!(w.bytes, 12.0 * (2048 * 2048) as f64);
    }
}
