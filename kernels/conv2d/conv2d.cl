// 2D convolution, NCHW, f32: y[n,o,y,x] = sum_{c,ky,kx} x[n,c,y+ky-r,x+kx-r]
// w[o,c,ky,kx], r = k/2, zero padding, stride 1, k in {1, 3, 5}.
//
// The implicit GEMM of conv2d.wgsl (see README "GPU design"): M = the
// n*h*w output pixels, N = the cout channels, K = the cin*k*k taps
// t = (c*k + ky)*k + kx. A work-group of 8 x 16 work-items computes 128
// pixels x 64 channels, each work-item an 8 x 8 register tile (pixels 4ty..
// and 64+4ty.., channels 4tx.. and 32+4tx..); K advances in slabs of 8 taps
// through two local buffers (ping-pong), the next slab gathered into
// registers while the current one is multiplied, one barrier per slab. The
// tap decomposition divides by the compile-time k of each kernel
// (conv2d_k1, conv2d_k3, conv2d_k5), once per slab and tap; the weights'
// rows are padded to 68 floats (conflict-free transposing stores).
// Launch: x (in), wt (in), y (out), n, cin, cout, h, w, k; work-groups of
// 8 x 16, global (8*ceil(cout/64), 16*ceil(n*h*w/128)), kernel conv2d_k<k>.
#define BM 128
#define BN 64
#define BK 8
#define AV 32      /* float4 per tap row of an A slab */
#define A_SLAB 256 /* float4 per A slab */
#define BV 17      /* float4 per tap row of a B slab (one of padding) */
#define B_SLAB 136

typedef struct {
    uint cin, cout, h, w, pixels;
} Shape;

/* The pixel a work-item gathers: offset in x of its image's first plane,
   row, column; valid = 0 past the last pixel. */
typedef struct {
    uint base;
    int oy, ox;
    int valid;
} Pixel;

static inline float gather_tap(const uint K, const uint t, const Pixel px, const Shape s,
                               __global const float *restrict x) {
    const uint kk = K * K;
    if (!px.valid || t >= s.cin * kk) return 0.0f;
    const uint c = t / kk, q = t - c * kk;
    const uint ky = q / K, kx = q - ky * K;
    const int r = (int)(K / 2);
    const int iy = px.oy + (int)ky - r, ix = px.ox + (int)kx - r;
    if (iy < 0 || ix < 0 || iy >= (int)s.h || ix >= (int)s.w) return 0.0f;
    return x[px.base + c * s.h * s.w + (uint)iy * s.w + (uint)ix];
}

/* One slab into registers: taps k0..k0+7 of this work-item's pixel (a0,
   a1) and taps k0 + 4(tid % 2)..+3 of channel oc0 + tid / 2 (b). */
static inline void load_slab(const uint K, const uint tid, const uint k0, const uint oc0,
                             const Pixel px, const Shape s, __global const float *restrict x,
                             __global const float *restrict wt, float4 *a0, float4 *a1,
                             float4 *b) {
    *a0 = (float4)(gather_tap(K, k0, px, s, x), gather_tap(K, k0 + 1, px, s, x),
                   gather_tap(K, k0 + 2, px, s, x), gather_tap(K, k0 + 3, px, s, x));
    *a1 = (float4)(gather_tap(K, k0 + 4, px, s, x), gather_tap(K, k0 + 5, px, s, x),
                   gather_tap(K, k0 + 6, px, s, x), gather_tap(K, k0 + 7, px, s, x));
    const uint taps = s.cin * K * K, o = oc0 + tid / 2, t0 = k0 + 4 * (tid % 2);
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (o < s.cout)
        for (uint i = 0; i < 4; i++)
            if (t0 + i < taps) v[i] = wt[o * taps + t0 + i];
    *b = (float4)(v[0], v[1], v[2], v[3]);
}

static inline void store_slab(const uint tid, const uint buf, const float4 a0, const float4 a1,
                              const float4 b, __local float *as, __local float *bs) {
    /* A: pixel tid at taps 0..7 (32 consecutive pixels per store). */
    const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
    for (uint j = 0; j < 8; j++) as[4 * (buf * A_SLAB + j * AV) + tid] = av[j];
    /* B: channel tid / 2, taps 4(tid % 2)..+3, transposed to bs[tap][channel]. */
    const uint o = tid / 2, t0 = 4 * (tid % 2);
    const float bv[4] = {b.x, b.y, b.z, b.w};
    for (uint i = 0; i < 4; i++) bs[4 * (buf * B_SLAB + (t0 + i) * BV) + o] = bv[i];
}

static inline void conv_tile(const uint K, const Shape s, __global const float *restrict x,
                             __global const float *restrict wt, __global float *restrict y,
                             __local float4 *As, __local float4 *Bs) {
    const uint tx = get_local_id(0), ty = get_local_id(1), tid = ty * 8 + tx;
    const uint hw = s.h * s.w;
    const uint oc0 = get_group_id(0) * BN, m0 = get_group_id(1) * BM;
    Pixel px;
    const uint pg = m0 + tid;
    px.valid = pg < s.pixels;
    const uint img = pg / hw, pix = pg - img * hw;
    px.oy = (int)(pix / s.w);
    px.ox = (int)(pix % s.w);
    px.base = img * s.cin * hw;
    /* acc[2r + h]: pixel r of the tile (4ty + r, or 64 + 4ty + r - 4 for
       r >= 4), channels 4tx.. (h = 0) or 32 + 4tx.. (h = 1). */
    float4 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = (float4)(0.0f);
    const uint slabs = (s.cin * K * K + BK - 1) / BK;
    float4 a0, a1, b;
    load_slab(K, tid, 0, oc0, px, s, x, wt, &a0, &a1, &b);
    store_slab(tid, 0, a0, a1, b, (__local float *)As, (__local float *)Bs);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint sl = 0; sl < slabs; sl++) {
        const uint buf = sl & 1;
        if (sl + 1 < slabs) load_slab(K, tid, (sl + 1) * BK, oc0, px, s, x, wt, &a0, &a1, &b);
#pragma unroll
        for (uint j = 0; j < BK; j++) {
            const float4 p0 = As[buf * A_SLAB + j * AV + ty];
            const float4 p1 = As[buf * A_SLAB + j * AV + 16 + ty];
            const float4 w0 = Bs[buf * B_SLAB + j * BV + tx];
            const float4 w1 = Bs[buf * B_SLAB + j * BV + 8 + tx];
            const float ar[8] = {p0.x, p0.y, p0.z, p0.w, p1.x, p1.y, p1.z, p1.w};
#pragma unroll
            for (uint r = 0; r < 8; r++) {
                acc[2 * r] = fma((float4)(ar[r]), w0, acc[2 * r]);
                acc[2 * r + 1] = fma((float4)(ar[r]), w1, acc[2 * r + 1]);
            }
        }
        if (sl + 1 < slabs)
            store_slab(tid, buf ^ 1, a0, a1, b, (__local float *)As, (__local float *)Bs);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (uint r = 0; r < 8; r++) {
        const uint pr = m0 + 4 * ty + r + 60 * (r / 4);
        if (pr >= s.pixels) continue;
        const uint im = pr / hw, at = pr - im * hw;
        for (uint h = 0; h < 2; h++) {
            const float4 v = acc[2 * r + h];
            const float e[4] = {v.x, v.y, v.z, v.w};
            const uint o = oc0 + 4 * tx + 32 * h;
            for (uint j = 0; j < 4; j++)
                if (o + j < s.cout) y[(im * s.cout + o + j) * hw + at] = e[j];
        }
    }
}

/* One kernel per filter size: k is a literal in conv_tile once inlined. */
__kernel __attribute__((reqd_work_group_size(8, 16, 1)))
void conv2d_k1(__global const float *restrict x, __global const float *restrict wt,
               __global float *restrict y, const uint n, const uint cin, const uint cout,
               const uint h, const uint w, const uint k) {
    __local float4 As[2 * A_SLAB];
    __local float4 Bs[2 * B_SLAB];
    const Shape s = {cin, cout, h, w, n * h * w};
    conv_tile(1, s, x, wt, y, As, Bs);
}

__kernel __attribute__((reqd_work_group_size(8, 16, 1)))
void conv2d_k3(__global const float *restrict x, __global const float *restrict wt,
               __global float *restrict y, const uint n, const uint cin, const uint cout,
               const uint h, const uint w, const uint k) {
    __local float4 As[2 * A_SLAB];
    __local float4 Bs[2 * B_SLAB];
    const Shape s = {cin, cout, h, w, n * h * w};
    conv_tile(3, s, x, wt, y, As, Bs);
}

__kernel __attribute__((reqd_work_group_size(8, 16, 1)))
void conv2d_k5(__global const float *restrict x, __global const float *restrict wt,
               __global float *restrict y, const uint n, const uint cin, const uint cout,
               const uint h, const uint w, const uint k) {
    __local float4 As[2 * A_SLAB];
    __local float4 Bs[2 * B_SLAB];
    const Shape s = {cin, cout, h, w, n * h * w};
    conv_tile(5, s, x, wt, y, As, Bs);
}
