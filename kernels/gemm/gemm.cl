// C = A * B, square row-major, n x n, in `real` (float; double when
// compiled with -DHETBENCH_F64 for the f64 variant).
//
// The design of gemm.wgsl (see README "GPU design"): a 16 x 16 work-group
// computes a 128 x 128 tile of C, each work-item an 8 x 8 register tile
// (rows 4ty.. and 64+4ty.., columns 4tx.. and 64+4tx.., each read from
// local memory as one vector); K advances in slabs of 4 through two local
// buffers (ping-pong), the next slab loading into registers while the
// current one is multiplied, one barrier per slab. A is stored transposed
// with its vector index XOR-swizzled by 2k (conflict-free stores without
// padding). Where n % 4 == 0 the slabs load as real4 vectors (work-items
// 0..127: one row of A, 4 consecutive k; 128..255: 4 consecutive columns of
// B); otherwise element by element with bounds checks, zero outside.
// Launch: a, b (in), c (out), n; global (16*ceil(n/128), 16*ceil(n/128)).
#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double4 real4;
#else
typedef float real;
typedef float4 real4;
#endif
#define BM 128
#define BN 128
#define BK 4
#define AV 32 /* vectors per k-row of a slab */
#define BV 32
#define SLAB 128 /* vectors per slab */

/* The slot of rows 4v..4v+3 at k in A slab `buf`. */
#define A_SLOT(buf, k, v) ((buf) * SLAB + (k) * AV + ((v) ^ (2 * (k))))

static inline real4 load_slab(const uint tid, const uint k0, const uint row0, const uint col0,
                              const uint n, __global const real *restrict a,
                              __global const real *restrict b) {
    real4 v = (real4)(0);
    if (tid < 128) {
        const uint r = row0 + tid;
        if (r < n) {
            if ((n & 3) == 0) {
                v = *(__global const real4 *)(a + r * n + k0);
            } else {
                const uint base = r * n;
                v.x = k0 < n ? a[base + k0] : 0;
                v.y = k0 + 1 < n ? a[base + k0 + 1] : 0;
                v.z = k0 + 2 < n ? a[base + k0 + 2] : 0;
                v.w = k0 + 3 < n ? a[base + k0 + 3] : 0;
            }
        }
    } else {
        const uint t = tid - 128;
        const uint k = k0 + t / 32, col = col0 + 4 * (t % 32);
        if (k < n && col < n) {
            if ((n & 3) == 0) {
                v = *(__global const real4 *)(b + k * n + col);
            } else {
                const uint base = k * n + col;
                v.x = b[base];
                v.y = col + 1 < n ? b[base + 1] : 0;
                v.z = col + 2 < n ? b[base + 2] : 0;
                v.w = col + 3 < n ? b[base + 3] : 0;
            }
        }
    }
    return v;
}

static inline void store_slab(const uint tid, const uint buf, const real4 v,
                              __local real4 *As, __local real4 *Bs) {
    if (tid < 128) {
        /* Row tid, k = 0..3: a warp stores 32 consecutive rows of one k. */
        __local real *as = (__local real *)As;
        const uint q = tid / 4, e = tid % 4;
        as[4 * A_SLOT(buf, 0, q) + e] = v.x;
        as[4 * A_SLOT(buf, 1, q) + e] = v.y;
        as[4 * A_SLOT(buf, 2, q) + e] = v.z;
        as[4 * A_SLOT(buf, 3, q) + e] = v.w;
    } else {
        const uint t = tid - 128;
        Bs[buf * SLAB + (t / 32) * BV + t % 32] = v;
    }
}

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void gemm(__global const real *restrict a, __global const real *restrict b,
          __global real *restrict c, const uint n) {
    __local real4 As[2 * SLAB];
    __local real4 Bs[2 * SLAB];
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint row0 = get_group_id(1) * BM, col0 = get_group_id(0) * BN;
    const uint tid = ty * 16 + tx;
    /* acc[2r + h]: row r of the register tile (4ty + r, or 64 + 4ty + r - 4
       for r >= 4), columns 4tx.. (h = 0) or 64 + 4tx.. (h = 1). */
    real4 acc[16];
    for (int i = 0; i < 16; i++) acc[i] = (real4)(0);
    const uint slabs = (n + BK - 1) / BK;
    store_slab(tid, 0, load_slab(tid, 0, row0, col0, n, a, b), As, Bs);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = 0; s < slabs; s++) {
        const uint buf = s & 1;
        real4 next = (real4)(0);
        if (s + 1 < slabs) next = load_slab(tid, (s + 1) * BK, row0, col0, n, a, b);
#pragma unroll
        for (uint k = 0; k < BK; k++) {
            const real4 a0 = As[A_SLOT(buf, k, ty)];
            const real4 a1 = As[A_SLOT(buf, k, 16 + ty)];
            const real4 b0 = Bs[buf * SLAB + k * BV + tx];
            const real4 b1 = Bs[buf * SLAB + k * BV + 16 + tx];
            const real ar[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
#pragma unroll
            for (uint r = 0; r < 8; r++) {
                acc[2 * r] = fma((real4)(ar[r]), b0, acc[2 * r]);
                acc[2 * r + 1] = fma((real4)(ar[r]), b1, acc[2 * r + 1]);
            }
        }
        if (s + 1 < slabs) store_slab(tid, buf ^ 1, next, As, Bs);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (uint r = 0; r < 8; r++) {
        const uint row = row0 + 4 * ty + r + 60 * (r / 4);
        if (row >= n) continue;
        for (uint h = 0; h < 2; h++) {
            const real4 v = acc[2 * r + h];
            const uint col = col0 + 4 * tx + 64 * h;
            const real e[4] = {v.x, v.y, v.z, v.w};
            for (uint j = 0; j < 4; j++)
                if (col + j < n) c[row * n + col + j] = e[j];
        }
    }
}
