//! `mlp_jet`: inference of the hls4ml jet-tagging reference network.
//!
//! A fully connected 16-64-32-32-5 network (ReLU on the hidden layers,
//! softmax on the output) over a batch of events, in f32: the model of the
//! hls4ml papers (Duarte et al., JINST 13 P07027, 2018) that L1 triggers run
//! on FPGAs. The weights are fixed (seeded with [`WEIGHT_SEED`], Glorot
//! uniform, small biases), the 16 features per event come from the run's seed.
//!
//! Layout: features feature-major (`x[f * events + e]`), probabilities
//! class-major (`probs[c * events + e]`), so that GPU work-items (each on
//! events e and e + S, S the grid's size) read and write contiguously. All weights and biases are packed in
//! one buffer, layer by layer, each layer's matrix `[in][out]` followed by its
//! bias (see [`LAYER_OFFSETS`]).
//!
//! The CPU implementation pushes tiles of events through all four layers in
//! L1, each layer a GEMM micro-kernel (8 events x 32 neurons of accumulators
//! in AVX-512 registers, 6 x 16 with AVX2): intrinsics behind the small
//! [`Vector`] trait, because LLVM's auto-vectoriser picks the event dimension
//! with gathers here. Softmax uses a vectorised Cody-Waite exp (Cephes
//! polynomial, about 1 ulp).
//!
//! Verification: every event's 5 probabilities against the f64 forward pass,
//! each within `rel * p * (1 + 2 max_j S_j)` where `S_j` is the sum of the
//! magnitudes of logit `j`'s terms (the scale of its rounding error); the
//! fraction of events whose top class agrees goes in the verdict's detail.
//!
//! On the FPGA emulation the network runs as hls4ml builds it ([`hls4ml`]:
//! its dense, ReLU and lookup-table softmax templates bit for bit, in the
//! types hls4ml 1.3.0 declares), not through the generic `Scalar`
//! reference the other kernels use: hls4ml casts every product and partial
//! sum to `accum_t` and its softmax mixes several types of its own.

use std::ops::Range;

use rayon::prelude::*;

use crate::error::Result;
use crate::kernel::{
    Arg, Buffer, Buffers, Checker, CpuInstance, Dispatch, Inputs, Kernel, Launch, LaunchBuffer,
    SizeSpec, Tolerance, Verdict, Work, groups_for, param_u32,
};
use crate::kernels::BuiltinKernel;
use crate::kernels::par::{SharedMut, mul_add};

mod fpga;
pub mod hls4ml;

pub const BUILTIN: BuiltinKernel = crate::builtin_kernel!(
    "mlp_jet",
    MlpJet,
    ["mlp_jet/fpga.rs", "mlp_jet/hls4ml.rs"]
);

/// Neurons per layer, input first.
pub const DIMS: [usize; 5] = [16, 64, 32, 32, 5];
/// Where each layer's `[in][out]` matrix starts in the packed weights; its
/// bias follows the matrix.
pub const LAYER_OFFSETS: [usize; 4] = [0, 1088, 3168, 4224];
/// Length of the packed weights and biases.
pub const WEIGHT_COUNT: usize = 4389;
/// The weights are the same for every run: they are the model, not input.
pub const WEIGHT_SEED: u64 = 0x006a_6574_5f6d_6c70; // "jet_mlp"
const FEATURES: usize = 16;
const CLASSES: usize = 5;
const MAX_EVENTS: usize = 1 << 26;
/// Multiply-adds per event: 16*64 + 64*32 + 32*32 + 32*5.
pub const MACS_PER_EVENT: usize = 4256;
/// FLOP per event: 2 per multiply-add, 1 per bias add (133), 1 per ReLU
/// (128) and 4 per softmax output (max-subtract, exp, sum, divide: 20).
pub const FLOPS_PER_EVENT: f64 = (2 * MACS_PER_EVENT + 133 + 128 + 20) as f64;
/// Events per rayon task.
const EVENTS_PER_TASK: usize = 1024;
/// GPU workgroup size and events per invocation (the shaders' WG and two
/// events e and e + S): each vec4 of weights read serves 2 x 4 FMAs. The
/// weights are bound as a uniform (`__constant`) buffer.
const GROUP_SIZE: u32 = 64;
const EVENTS_PER_INVOCATION: usize = 2;

pub struct MlpJet;

/// The packed weights: per layer, Glorot-uniform `[in][out]` entries in
/// `+-sqrt(6 / (in + out))`, then biases uniform in [-0.1, 0.1).
pub fn weights() -> Vec<f32> {
    let mut w = Vec::with_capacity(WEIGHT_COUNT);
    for l in 0..4 {
        let (k, j) = (DIMS[l], DIMS[l + 1]);
        debug_assert_eq!(w.len(), LAYER_OFFSETS[l]);
        let lim = (6.0 / (k + j) as f64).sqrt();
        w.extend((0..k * j).map(|i| {
            (lim * (2.0 * crate::rng::uniform(WEIGHT_SEED, l as u64, i as u64) - 1.0)) as f32
        }));
        w.extend((0..j).map(|i| {
            (0.1 * (2.0 * crate::rng::uniform(WEIGHT_SEED, 10 + l as u64, i as u64) - 1.0)) as f32
        }));
    }
    debug_assert_eq!(w.len(), WEIGHT_COUNT);
    w
}

/// The f64 forward pass of one event, in plain layer loops (the structure
/// an HLS or fixed-point version follows): the probabilities, and for each
/// logit the sum of the magnitudes of its terms (|b| + sum |w h|), which
/// sets the scale of its rounding error.
pub fn forward_f64(weights: &[f32], x: &[f64; FEATURES]) -> ([f64; CLASSES], [f64; CLASSES]) {
    let mut h: Vec<f64> = x.to_vec();
    let mut m = vec![0.0f64; CLASSES];
    for l in 0..4 {
        let (k_dim, j_dim) = (DIMS[l], DIMS[l + 1]);
        let w = &weights[LAYER_OFFSETS[l]..LAYER_OFFSETS[l] + k_dim * j_dim];
        let b = &weights[LAYER_OFFSETS[l] + k_dim * j_dim..][..j_dim];
        let mut out = vec![0.0f64; j_dim];
        let mut mag = vec![0.0f64; j_dim];
        for j in 0..j_dim {
            let (mut acc, mut am) = (b[j] as f64, (b[j] as f64).abs());
            for k in 0..k_dim {
                acc += w[k * j_dim + j] as f64 * h[k];
                am += (w[k * j_dim + j] as f64 * h[k]).abs();
            }
            out[j] = if l < 3 { acc.max(0.0) } else { acc };
            mag[j] = am;
        }
        h = out;
        if l == 3 {
            m = mag;
        }
    }
    let zmax = h.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = h.iter().map(|z| (z - zmax).exp()).collect();
    let s: f64 = e.iter().sum();
    let mut p = [0.0; CLASSES];
    let mut mag = [0.0; CLASSES];
    for c in 0..CLASSES {
        p[c] = e[c] / s;
        mag[c] = m[c];
    }
    (p, mag)
}

impl Kernel for MlpJet {
    fn generate(&self, size: &SizeSpec, seed: u64) -> Result<Inputs> {
        let n = size.usize("events", MAX_EVENTS)?;
        let mut buffers = Buffers::default();
        // Standardised features: uniform with unit variance, feature-major.
        let s = 3f32.sqrt();
        buffers.push(
            "x",
            Buffer::F32(crate::rng::uniform_f32(seed, 1, FEATURES * n, -s, s)),
        );
        buffers.push("weights", Buffer::F32(weights()));
        Ok(Inputs {
            size: size.clone(),
            seed,
            buffers,
        })
    }

    fn work(&self, size: &SizeSpec) -> Result<Work> {
        let n = size.usize("events", MAX_EVENTS)? as f64;
        Ok(Work {
            flops: FLOPS_PER_EVENT * n,
            // Read 16 features, write 5 probabilities; the weights once.
            bytes: 4.0 * ((FEATURES + CLASSES) as f64 * n + WEIGHT_COUNT as f64),
            items: n,
            item_unit: "events".into(),
        })
    }

    fn memory_bytes(&self, size: &SizeSpec) -> Result<u64> {
        let n = size.usize("events", MAX_EVENTS)? as u64;
        // Inputs and the instance's copy; outputs, the read-back and the
        // reference's probabilities.
        Ok(4 * n * (2 * FEATURES as u64 + 3 * CLASSES as u64) + 2 * 8 * n * CLASSES as u64)
    }

    fn cpu(&self, inputs: &Inputs) -> Result<Box<dyn CpuInstance>> {
        let n = inputs.size.usize("events", MAX_EVENTS)?;
        let w = inputs.buffers.f32("weights")?;
        Ok(Box::new(MlpJetCpu {
            n,
            net: Box::new(Net::from_packed(w)),
            x: inputs.buffers.f32("x")?.to_vec(),
            probs: vec![0.0; CLASSES * n],
        }))
    }

    fn launch(&self, inputs: &Inputs) -> Result<Launch> {
        let n = inputs.size.usize("events", MAX_EVENTS)?;
        Ok(Launch {
            buffers: vec![
                // Two halves of the features, so that no binding is over
                // 128 MiB at 4M events (the largest storage binding of
                // lavapipe and WebGPU by default).
                LaunchBuffer::input_part("x", 0, FEATURES / 2 * n),
                LaunchBuffer::input_part("x", FEATURES / 2 * n, FEATURES / 2 * n),
                // 17.6 KB: read by every invocation alike, a uniform.
                LaunchBuffer::uniform("weights", WEIGHT_COUNT),
                LaunchBuffer::output("probs", CLASSES * n),
            ],
            params: vec![("n", Arg::U32(param_u32(n, "events")?))],
            dispatches: vec![Dispatch::new(
                "mlp_jet",
                [
                    groups_for(n, GROUP_SIZE * EVENTS_PER_INVOCATION as u32)?,
                    1,
                    1,
                ],
                [GROUP_SIZE, 1, 1],
            )],
        })
    }

    fn verify(&self, inputs: &Inputs, outputs: &Buffers, tol: Tolerance) -> Result<Verdict> {
        let n = inputs.size.usize("events", MAX_EVENTS)?;
        let x = inputs.buffers.f32("x")?;
        let w = inputs.buffers.f32("weights")?;
        let probs = outputs.f32("probs")?;
        let mut checker = Checker::new(tol);
        if probs.len() != CLASSES * n {
            checker.check(probs.len() as f64, (CLASSES * n) as f64, 0.0, || {
                "length of probs".into()
            });
            return Ok(checker.finish());
        }
        let refs: Vec<([f64; CLASSES], f64)> = (0..n)
            .into_par_iter()
            .map(|e| {
                let xe: [f64; FEATURES] = std::array::from_fn(|f| x[f * n + e] as f64);
                let (p, m) = forward_f64(w, &xe);
                let mmax = m.iter().cloned().fold(0.0, f64::max);
                (p, 1.0 + 2.0 * mmax)
            })
            .collect();
        let mut agree = 0usize;
        for (e, (p, amp)) in refs.iter().enumerate() {
            let got: [f32; CLASSES] = std::array::from_fn(|c| probs[c * n + e]);
            for c in 0..CLASSES {
                checker.check(got[c] as f64, p[c], p[c] * amp, || {
                    format!("probs[class {c}][event {e}]")
                });
            }
            if argmax(got.iter().map(|&v| v as f64)) == argmax(p.iter().cloned()) {
                agree += 1;
            }
        }
        let mut verdict = checker.finish();
        verdict.detail = format!(
            "{}; top class agrees on {agree} of {n} events ({:.4}%)",
            verdict.detail,
            100.0 * agree as f64 / n as f64
        );
        verdict.agreement = Some(agree as f64 / n as f64);
        Ok(verdict)
    }

    fn fpga(&self) -> Option<&dyn crate::kernel::FpgaKernel> {
        Some(&fpga::MlpJetFpga)
    }
}

/// Index of the largest value (the first of equals); NaN never wins.
fn argmax(v: impl Iterator<Item = f64>) -> usize {
    let mut best = (usize::MAX, f64::NEG_INFINITY);
    for (i, x) in v.enumerate() {
        if x > best.1 || best.0 == usize::MAX {
            best = (i, x);
        }
    }
    best.0
}

/// One dense layer: `w[k][j]` and `b[j]`; columns past the packed layer's
/// own (padding of the output layer) are zero.
#[derive(Clone)]
struct Layer<const K: usize, const J: usize> {
    w: [[f32; J]; K],
    b: [f32; J],
}

impl<const K: usize, const J: usize> Layer<K, J> {
    /// The layer at `offset` of the packed weights, with `out` columns.
    fn from_packed(p: &[f32], offset: usize, out: usize) -> Self {
        let at = |k: usize, j: usize| {
            if j < out {
                p[offset + k * out + j]
            } else {
                0.0
            }
        };
        Layer {
            w: std::array::from_fn(|k| std::array::from_fn(|j| at(k, j))),
            b: std::array::from_fn(|j| at(K, j)),
        }
    }
}

/// The network, the output layer padded from 5 to 16 columns so that every
/// layer is whole vectors wide.
struct Net {
    l1: Layer<16, 64>,
    l2: Layer<64, 32>,
    l3: Layer<32, 32>,
    l4: Layer<32, 16>,
}

impl Net {
    fn from_packed(p: &[f32]) -> Self {
        Net {
            l1: Layer::from_packed(p, LAYER_OFFSETS[0], 64),
            l2: Layer::from_packed(p, LAYER_OFFSETS[1], 32),
            l3: Layer::from_packed(p, LAYER_OFFSETS[2], 32),
            l4: Layer::from_packed(p, LAYER_OFFSETS[3], CLASSES),
        }
    }
}

/// A vector of f32 lanes. The x86 implementations use intrinsics; they are
/// only instantiated inside functions compiled for their features, which
/// are called after run-time detection (see [`events`]).
trait Vector: Copy {
    const N: usize;
    fn splat(v: f32) -> Self;
    /// The first N values of `s` (at least N long).
    fn load(s: &[f32]) -> Self;
    /// Stores into the first N values of `s` (at least N long).
    fn store(self, s: &mut [f32]);
    /// `a * b + c`.
    fn fma(a: Self, b: Self, c: Self) -> Self;
    fn relu(self) -> Self;
}

/// Eight lanes in plain Rust, for CPUs without AVX2.
#[derive(Clone, Copy)]
struct Portable([f32; 8]);

impl Vector for Portable {
    const N: usize = 8;
    #[inline(always)]
    fn splat(v: f32) -> Self {
        Portable([v; 8])
    }
    #[inline(always)]
    fn load(s: &[f32]) -> Self {
        Portable(std::array::from_fn(|i| s[i]))
    }
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        s[..8].copy_from_slice(&self.0);
    }
    #[inline(always)]
    fn fma(a: Self, b: Self, c: Self) -> Self {
        Portable(std::array::from_fn(|i| {
            mul_add::<false>(a.0[i], b.0[i], c.0[i])
        }))
    }
    #[inline(always)]
    fn relu(self) -> Self {
        Portable(self.0.map(|v| v.max(0.0)))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vector;
    use std::arch::x86_64::*;

    /// 16 lanes, AVX-512F.
    #[derive(Clone, Copy)]
    pub(super) struct F32x16(__m512);

    // SAFETY (every block below): F32x16 is only used in functions compiled
    // with AVX-512F, reached after detecting it; loads and stores check
    // that the slice holds 16 values.
    impl Vector for F32x16 {
        const N: usize = 16;
        #[inline(always)]
        fn splat(v: f32) -> Self {
            F32x16(unsafe { _mm512_set1_ps(v) })
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            let s = &s[..16];
            F32x16(unsafe { _mm512_loadu_ps(s.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f32]) {
            let s = &mut s[..16];
            unsafe { _mm512_storeu_ps(s.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn fma(a: Self, b: Self, c: Self) -> Self {
            F32x16(unsafe { _mm512_fmadd_ps(a.0, b.0, c.0) })
        }
        #[inline(always)]
        fn relu(self) -> Self {
            F32x16(unsafe { _mm512_max_ps(self.0, _mm512_setzero_ps()) })
        }
    }

    /// 8 lanes, AVX2 and FMA.
    #[derive(Clone, Copy)]
    pub(super) struct F32x8(__m256);

    // SAFETY (every block below): F32x8 is only used in functions compiled
    // with AVX2 and FMA, reached after detecting them; loads and stores
    // check that the slice holds 8 values.
    impl Vector for F32x8 {
        const N: usize = 8;
        #[inline(always)]
        fn splat(v: f32) -> Self {
            F32x8(unsafe { _mm256_set1_ps(v) })
        }
        #[inline(always)]
        fn load(s: &[f32]) -> Self {
            let s = &s[..8];
            F32x8(unsafe { _mm256_loadu_ps(s.as_ptr()) })
        }
        #[inline(always)]
        fn store(self, s: &mut [f32]) {
            let s = &mut s[..8];
            unsafe { _mm256_storeu_ps(s.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn fma(a: Self, b: Self, c: Self) -> Self {
            F32x8(unsafe { _mm256_fmadd_ps(a.0, b.0, c.0) })
        }
        #[inline(always)]
        fn relu(self) -> Self {
            F32x8(unsafe { _mm256_max_ps(self.0, _mm256_setzero_ps()) })
        }
    }
}

/// `out[t][j] = act(b[j] + sum_k in[t][k] w[k][j])` for a tile of T events:
/// the micro-kernel of a GEMM, two vectors of neurons (one where the layer
/// is narrower) times T events held in registers, each input broadcast
/// against the weight vectors.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // k and t index two arrays each
fn dense<V: Vector, const K: usize, const J: usize, const T: usize>(
    layer: &Layer<K, J>,
    input: &[[f32; K]; T],
    out: &mut [[f32; J]; T],
    relu: bool,
) {
    let nv = if J >= 2 * V::N { 2 } else { 1 };
    let jb = nv * V::N;
    debug_assert_eq!(J % jb, 0);
    let mut j0 = 0;
    while j0 + jb <= J {
        let mut acc = [[V::splat(0.0); 2]; T];
        for v in 0..nv {
            let b = V::load(&layer.b[j0 + v * V::N..]);
            for a in acc.iter_mut() {
                a[v] = b;
            }
        }
        for k in 0..K {
            let w0 = V::load(&layer.w[k][j0..]);
            let w1 = if nv == 2 {
                V::load(&layer.w[k][j0 + V::N..])
            } else {
                w0
            };
            for t in 0..T {
                let x = V::splat(input[t][k]);
                acc[t][0] = V::fma(x, w0, acc[t][0]);
                if nv == 2 {
                    acc[t][1] = V::fma(x, w1, acc[t][1]);
                }
            }
        }
        for t in 0..T {
            for v in 0..nv {
                let a = if relu { acc[t][v].relu() } else { acc[t][v] };
                a.store(&mut out[t][j0 + v * V::N..]);
            }
        }
        j0 += jb;
    }
}

/// e^x for x <= 0 (Cephes expf: Cody-Waite reduction and a degree-6
/// polynomial, about 1 ulp), branch-free so that it vectorises; results
/// below 2^-126 come out as 2^-126 times a value in [0.7, 1.4].
#[inline(always)]
fn exp_nonpositive<const FMA: bool>(x: f32) -> f32 {
    let x = x.max(-87.0);
    // Round x / ln 2 to the nearest integer with the 1.5 * 2^23 trick.
    let big = 12_582_912.0f32;
    let shifted = mul_add::<FMA>(x, std::f32::consts::LOG2_E, big);
    let nf = shifted - big;
    // The integer n sits in the low mantissa bits of `shifted` (no float to
    // int conversion, which does not vectorise with Rust's saturating `as`).
    let ni = shifted.to_bits().wrapping_sub(big.to_bits()) as i32;
    let r = mul_add::<FMA>(nf, -0.693_359_4, x);
    let r = mul_add::<FMA>(nf, 2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4f32;
    p = mul_add::<FMA>(p, r, 1.398_199_9e-3);
    p = mul_add::<FMA>(p, r, 8.333_452e-3);
    p = mul_add::<FMA>(p, r, 4.166_579_6e-2);
    p = mul_add::<FMA>(p, r, 1.666_666_5e-1);
    p = mul_add::<FMA>(p, r, 0.5);
    let e = mul_add::<FMA>(p, r * r, r) + 1.0;
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    e * scale
}

/// The probabilities `[class][t]` of the T events whose features are `x`.
#[inline(always)]
fn tile<V: Vector, const FMA: bool, const T: usize>(
    net: &Net,
    x: &[[f32; 16]; T],
) -> [[f32; T]; CLASSES] {
    let mut h1 = [[0.0f32; 64]; T];
    let mut h2 = [[0.0f32; 32]; T];
    let mut h3 = [[0.0f32; 32]; T];
    let mut z = [[0.0f32; 16]; T];
    dense::<V, 16, 64, T>(&net.l1, x, &mut h1, true);
    dense::<V, 64, 32, T>(&net.l2, &h1, &mut h2, true);
    dense::<V, 32, 32, T>(&net.l3, &h2, &mut h3, true);
    dense::<V, 32, 16, T>(&net.l4, &h3, &mut z, false);
    // Softmax across events: transpose to [class][t].
    let mut p: [[f32; T]; CLASSES] = std::array::from_fn(|c| std::array::from_fn(|t| z[t][c]));
    let mut m = p[0];
    for pc in &p[1..] {
        for t in 0..T {
            m[t] = m[t].max(pc[t]);
        }
    }
    let mut s = [0.0f32; T];
    for pc in p.iter_mut() {
        for t in 0..T {
            pc[t] = exp_nonpositive::<FMA>(pc[t] - m[t]);
            s[t] += pc[t];
        }
    }
    for pc in p.iter_mut() {
        for t in 0..T {
            pc[t] /= s[t];
        }
    }
    p
}

/// Events `range` of the `n` in `x`, written to `probs` (class-major), in
/// tiles of T events.
#[inline(always)]
fn events_body<V: Vector, const FMA: bool, const T: usize>(
    net: &Net,
    x: &[f32],
    n: usize,
    range: Range<usize>,
    probs: &SharedMut<f32>,
) {
    let mut e0 = range.start;
    while e0 < range.end {
        let len = T.min(range.end - e0);
        let mut xt = [[0.0f32; 16]; T];
        for f in 0..FEATURES {
            for (t, &v) in x[f * n + e0..f * n + e0 + len].iter().enumerate() {
                xt[t][f] = v;
            }
        }
        let p = tile::<V, FMA, T>(net, &xt);
        for (c, row) in p.iter().enumerate() {
            // SAFETY: tasks own disjoint event ranges, so these slices of
            // class c never overlap; `probs` outlives the parallel loop.
            let dst = unsafe { probs.range(c * n + e0..c * n + e0 + len) };
            dst.copy_from_slice(&row[..len]);
        }
        e0 += len;
    }
}

/// [`events_body`] with the best vectors this CPU has: AVX-512 (8 events x
/// 32 neurons of accumulators), AVX2+FMA (6 x 16) or plain Rust.
fn events(net: &Net, x: &[f32], n: usize, range: Range<usize>, probs: &SharedMut<f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")]
        fn v4(net: &Net, x: &[f32], n: usize, range: Range<usize>, probs: &SharedMut<f32>) {
            events_body::<x86::F32x16, true, 8>(net, x, n, range, probs)
        }
        #[target_feature(enable = "avx2,fma")]
        fn v3(net: &Net, x: &[f32], n: usize, range: Range<usize>, probs: &SharedMut<f32>) {
            events_body::<x86::F32x8, true, 6>(net, x, n, range, probs)
        }
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the features v4 is compiled for were detected.
            return unsafe { v4(net, x, n, range, probs) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features v3 is compiled for were detected.
            return unsafe { v3(net, x, n, range, probs) };
        }
    }
    events_body::<Portable, false, 8>(net, x, n, range, probs)
}

struct MlpJetCpu {
    n: usize,
    net: Box<Net>,
    x: Vec<f32>,
    probs: Vec<f32>,
}

impl CpuInstance for MlpJetCpu {
    fn run(&mut self) {
        let n = self.n;
        let probs = SharedMut::new(&mut self.probs);
        let (net, x) = (&*self.net, &self.x);
        (0..n.div_ceil(EVENTS_PER_TASK))
            .into_par_iter()
            .for_each(|task| {
                let r = task * EVENTS_PER_TASK..((task + 1) * EVENTS_PER_TASK).min(n);
                events(net, x, n, r, &probs);
            });
    }

    fn outputs(&self) -> Buffers {
        let mut out = Buffers::default();
        out.push("probs", Buffer::F32(self.probs.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn size(n: i64) -> SizeSpec {
        SizeSpec {
            name: "t".into(),
            params: [("events".to_string(), Param::Int(n))].into(),
            source: "test".into(),
        }
    }

    fn tol() -> Tolerance {
        Registry::builtin()
            .unwrap()
            .get("mlp_jet")
            .unwrap()
            .manifest
            .tolerance
    }

    #[test]
    fn layout_constants_agree() {
        let mut off = 0;
        for l in 0..4 {
            assert_eq!(LAYER_OFFSETS[l], off);
            off += DIMS[l] * DIMS[l + 1] + DIMS[l + 1];
        }
        assert_eq!(off, WEIGHT_COUNT);
        let macs: usize = (0..4).map(|l| DIMS[l] * DIMS[l + 1]).sum();
        assert_eq!(macs, MACS_PER_EVENT);
        assert_eq!(weights(), weights());
    }

    #[test]
    fn hand_computed_network() {
        // Zero weights except: h1[0] = relu(x0 - 1) (w=1, b=-1), h2[0] = 2*h1[0],
        // h3[0] = h2[0], logit 1 = h3[0], logit 0 = 0.5 from its bias.
        let mut w = vec![0.0f32; WEIGHT_COUNT];
        w[0] = 1.0; // l1 w[0][0]
        w[LAYER_OFFSETS[0] + 16 * 64] = -1.0; // b1[0]
        w[LAYER_OFFSETS[1]] = 2.0; // l2 w[0][0]
        w[LAYER_OFFSETS[2]] = 1.0; // l3 w[0][0]
        w[LAYER_OFFSETS[3] + 1] = 1.0; // l4 w[0][1]
        w[LAYER_OFFSETS[3] + 32 * 5] = 0.5; // b4[0]
        let n = 3;
        let mut inputs = MlpJet.generate(&size(n as i64), 1).unwrap();
        if let Some(Buffer::F32(b)) = inputs.buffers.get_mut("weights") {
            b.copy_from_slice(&w);
        }
        if let Some(Buffer::F32(x)) = inputs.buffers.get_mut("x") {
            x[..3].copy_from_slice(&[3.0, 0.0, 1.25]); // feature 0 of events 0..3
        }
        let mut cpu = MlpJet.cpu(&inputs).unwrap();
        cpu.run();
        let out = cpu.outputs();
        let p = out.f32("probs").unwrap();
        for (e, z1) in [(0, 4.0f64), (1, 0.0), (2, 0.5)] {
            let den = 0.5f64.exp() + z1.exp() + 3.0;
            let want = [0.5f64.exp() / den, z1.exp() / den, 1.0 / den];
            for c in 0..3 {
                let got = p[c * n + e] as f64;
                assert!((got - want[c]).abs() < 1e-6, "event {e} class {c}: {got}");
            }
            assert!((p[4 * n + e] as f64 - 1.0 / den).abs() < 1e-6);
        }
        assert!(MlpJet.verify(&inputs, &out, tol()).unwrap().passed);
    }

    #[test]
    fn cpu_passes_and_a_wrong_probability_fails() {
        let k = MlpJet;
        let n = 1003;
        let inputs = k.generate(&size(n as i64), 5).unwrap();
        let mut cpu = k.cpu(&inputs).unwrap();
        cpu.run();
        let mut out = cpu.outputs();
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(v.passed, "{v:?}");
        assert_eq!(v.checked, 5 * n as u64);
        assert!(
            v.detail.contains("top class agrees on 1003 of 1003"),
            "{}",
            v.detail
        );
        assert!(v.worst_ratio < 0.1, "{v:?}");
        if let Some(Buffer::F32(p)) = out.get_mut("probs") {
            p[3 * n + 1002] *= 1.001;
        }
        let v = k.verify(&inputs, &out, tol()).unwrap();
        assert!(!v.passed);
        assert!(
            v.detail.starts_with("probs[class 3][event 1002]"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn exp_is_accurate() {
        for i in 0..2000 {
            let x = -(i as f32) * 0.043;
            let got = exp_nonpositive::<false>(x) as f64;
            let want = (x as f64).exp();
            assert!(
                (got - want).abs() <= 3e-7 * want,
                "exp({x}) = {got}, want {want}"
            );
        }
    }
}
