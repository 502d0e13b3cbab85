// 2D convolution, NCHW, f32: y[n,o,y,x] = sum_{c,ky,kx} x[n,c,y+ky-r,x+kx-r]
// w[o,c,ky,kx], r = k/2, zero padding, stride 1, k in {1, 3, 5}.
//
// An implicit GEMM on the tiled engine of gemm.wgsl (see README "GPU
// design"): M = the n*h*w output pixels (flattened across images), N = the
// cout output channels, K = the cin*k*k taps, t = (c*k + ky)*k + kx, so
// that the weights wt[o][t] are the GEMM's B transposed and the patch
// matrix X[p][t] (im2col) is never stored: each slab of it is gathered
// straight from x. A workgroup of 8 x 16 invocations computes BM x BN =
// 128 pixels x 64 channels, each invocation an 8 x 8 register tile (pixels
// 4ty.. and 64+4ty.., channels 4tx.. and 32+4tx.., each read from workgroup
// memory as one vec4). K advances in slabs of BK = 8 taps through two
// workgroup buffers (ping-pong), the next slab gathered into registers
// while the current one is multiplied, one barrier per slab.
// The taps of a slab are the same for every invocation: their (c, ky, kx)
// is worked out once per slab and tap, by division by the constant k (one
// entry point per k: conv2d_k1, conv2d_k3, conv2d_k5 call conv_tile with a
// literal, which the compiler inlines); the multiply loop has no index
// arithmetic at all. The weights' rows are padded to 68 floats so that the
// transposing stores are conflict-free.
// Launch: x (in), wt (in), y (out), then Params; workgroups of 8 x 16,
// groups (ceil(cout/64), ceil(n*h*w/128), 1), entry conv2d_k<k>.
struct Params {
    n: u32,
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    k: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const BM: u32 = 128u;
const BN: u32 = 64u;
const BK: u32 = 8u;
// vec4s per tap row of a slab and per slab: pixels (A), channels (B, one
// vec4 of padding per row).
const AV: u32 = 32u;
const A_SLAB: u32 = 256u;
const BV: u32 = 17u;
const B_SLAB: u32 = 136u;

var<workgroup> As: array<vec4<f32>, 512>;
var<workgroup> Bs: array<vec4<f32>, 272>;

// One slab in registers: taps k0..k0+7 of this invocation's pixel (a0: taps
// 0..3, a1: 4..7), and taps k0 + 4(tid % 2)..+3 of channel oc0 + tid / 2 (b).
struct Slab {
    a0: vec4<f32>,
    a1: vec4<f32>,
    b: vec4<f32>,
}

// The pixel an invocation gathers: the offset in x of its image's first
// plane, its row and column; valid = false past the last pixel.
struct Pixel {
    base: u32,
    oy: i32,
    ox: i32,
    valid: bool,
}

fn gather_tap(K: u32, t: u32, px: Pixel) -> f32 {
    let taps = p.cin * K * K;
    if (!px.valid || t >= taps) {
        return 0.0;
    }
    // Uniform across the workgroup: the same tap for every pixel.
    let c = t / (K * K);
    let q = t - c * K * K;
    let ky = q / K;
    let kx = q - ky * K;
    let r = i32(K / 2u);
    let iy = px.oy + i32(ky) - r;
    let ix = px.ox + i32(kx) - r;
    if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
        return 0.0;
    }
    return x[px.base + c * p.h * p.w + u32(iy) * p.w + u32(ix)];
}

fn load_slab(K: u32, tid: u32, k0: u32, oc0: u32, px: Pixel) -> Slab {
    var s: Slab;
    for (var j = 0u; j < 4u; j++) {
        s.a0[j] = gather_tap(K, k0 + j, px);
        s.a1[j] = gather_tap(K, k0 + 4u + j, px);
    }
    let taps = p.cin * K * K;
    let o = oc0 + tid / 2u;
    let t0 = k0 + 4u * (tid % 2u);
    s.b = vec4<f32>(0.0);
    if (o < p.cout) {
        for (var i = 0u; i < 4u; i++) {
            if (t0 + i < taps) {
                s.b[i] = wt[o * taps + t0 + i];
            }
        }
    }
    return s;
}

fn store_slab(tid: u32, buf: u32, s: Slab) {
    // A: pixel tid, taps 0..7 (a warp stores 32 consecutive pixels per tap).
    for (var j = 0u; j < 4u; j++) {
        As[buf * A_SLAB + j * AV + tid / 4u][tid % 4u] = s.a0[j];
        As[buf * A_SLAB + (4u + j) * AV + tid / 4u][tid % 4u] = s.a1[j];
    }
    // B: channel tid / 2, taps 4(tid % 2)..+3, transposed to Bs[tap][channel].
    let o = tid / 2u;
    let t0 = 4u * (tid % 2u);
    for (var i = 0u; i < 4u; i++) {
        Bs[buf * B_SLAB + (t0 + i) * BV + o / 4u][o % 4u] = s.b[i];
    }
}

fn conv_tile(K: u32, lid: vec3<u32>, wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 8u + tx;
    let hw = p.h * p.w;
    let pixels = p.n * hw;
    let oc0 = wid.x * BN;
    let m0 = wid.y * BM;
    // This invocation's pixel for the gather (once: div/mod by h*w and w).
    var px: Pixel;
    let pg = m0 + tid;
    px.valid = pg < pixels;
    let img = pg / hw;
    let pix = pg - img * hw;
    px.oy = i32(pix / p.w);
    px.ox = i32(pix % p.w);
    px.base = img * p.cin * hw;
    // acc[2r + h]: pixel r of the tile (4ty + r, or 64 + 4ty + r - 4 for
    // r >= 4), channels 4tx.. (h = 0) or 32 + 4tx.. (h = 1).
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<f32>(0.0);
    }
    let slabs = (p.cin * K * K + BK - 1u) / BK;
    store_slab(tid, 0u, load_slab(K, tid, 0u, oc0, px));
    workgroupBarrier();
    for (var s = 0u; s < slabs; s++) {
        let buf = s & 1u;
        var next: Slab;
        if (s + 1u < slabs) {
            next = load_slab(K, tid, (s + 1u) * BK, oc0, px);
        }
        for (var j = 0u; j < BK; j++) {
            let a0 = As[buf * A_SLAB + j * AV + ty];
            let a1 = As[buf * A_SLAB + j * AV + 16u + ty];
            let b0 = Bs[buf * B_SLAB + j * BV + tx];
            let b1 = Bs[buf * B_SLAB + j * BV + 8u + tx];
            acc[0] = fma(vec4<f32>(a0.x), b0, acc[0]);
            acc[1] = fma(vec4<f32>(a0.x), b1, acc[1]);
            acc[2] = fma(vec4<f32>(a0.y), b0, acc[2]);
            acc[3] = fma(vec4<f32>(a0.y), b1, acc[3]);
            acc[4] = fma(vec4<f32>(a0.z), b0, acc[4]);
            acc[5] = fma(vec4<f32>(a0.z), b1, acc[5]);
            acc[6] = fma(vec4<f32>(a0.w), b0, acc[6]);
            acc[7] = fma(vec4<f32>(a0.w), b1, acc[7]);
            acc[8] = fma(vec4<f32>(a1.x), b0, acc[8]);
            acc[9] = fma(vec4<f32>(a1.x), b1, acc[9]);
            acc[10] = fma(vec4<f32>(a1.y), b0, acc[10]);
            acc[11] = fma(vec4<f32>(a1.y), b1, acc[11]);
            acc[12] = fma(vec4<f32>(a1.z), b0, acc[12]);
            acc[13] = fma(vec4<f32>(a1.z), b1, acc[13]);
            acc[14] = fma(vec4<f32>(a1.w), b0, acc[14]);
            acc[15] = fma(vec4<f32>(a1.w), b1, acc[15]);
        }
        if (s + 1u < slabs) {
            store_slab(tid, buf ^ 1u, next);
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 8u; r++) {
        let pr = m0 + 4u * ty + r + 60u * (r / 4u);
        if (pr < pixels) {
            let im = pr / hw;
            let at = pr - im * hw;
            for (var h = 0u; h < 2u; h++) {
                let v = acc[2u * r + h];
                let o = oc0 + 4u * tx + 32u * h;
                for (var j = 0u; j < 4u; j++) {
                    if (o + j < p.cout) {
                        y[(im * p.cout + o + j) * hw + at] = v[j];
                    }
                }
            }
        }
    }
}

@compute @workgroup_size(8, 16, 1)
fn conv2d_k1(@builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>) {
    conv_tile(1u, lid, wid);
}

@compute @workgroup_size(8, 16, 1)
fn conv2d_k3(@builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>) {
    conv_tile(3u, lid, wid);
}

@compute @workgroup_size(8, 16, 1)
fn conv2d_k5(@builtin(local_invocation_id) lid: vec3<u32>,
             @builtin(workgroup_id) wid: vec3<u32>) {
    conv_tile(5u, lid, wid);
}
