// All-pairs accelerations with Plummer softening, in `real` (float;
// double with -DHETBENCH_F64). Each body is summed by k work-items (a power
// of two from 1 to 64, chosen from n by the launch so that small n still
// fills a GPU): a work-group of 256 holds 256 / k bodies, work-item
// l = s * (256 / k) + b works for body b over the slots s, s + k, s + 2k...
// of every tile of 512 bodies staged in local memory, and the k partial
// sums of a body are added in a tree through local memory at the end.
// One rsqrt per pair (no square root and division). Padding slots are
// massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), n, eps2, k;
// global 256 * ceil(n * k / 256).
#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double3 real3;
typedef double4 real4;
#else
typedef float real;
typedef float3 real3;
typedef float4 real4;
#endif

#define WG 256
// Bodies staged per step: 8 KiB in float, 16 KiB in double.
#define TILE 512

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void nbody(__global const real *restrict x, __global const real *restrict y,
           __global const real *restrict z, __global const real *restrict m,
           __global real *restrict ax, __global real *restrict ay,
           __global real *restrict az, const uint n, const float eps2_,
           const uint k) {
    __local real4 tile[TILE];
    const uint l = get_local_id(0), bodies = WG / k;
    const uint b = l % bodies, s = l / bodies;
    const uint i = get_group_id(0) * bodies + b;
    const real eps2 = (real)eps2_;
    real3 pi = (real3)(0.0);
    if (i < n) pi = (real3)(x[i], y[i], z[i]);
    real3 acc = (real3)(0.0);
    for (uint t = 0; t < n; t += TILE) {
        for (uint c = l; c < TILE; c += WG) {
            const uint j = t + c;
            tile[c] = j < n ? (real4)(x[j], y[j], z[j], m[j]) : (real4)(1.0e3, 1.0e3, 1.0e3, 0.0);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint q = s; q < TILE; q += k) {
            const real4 bj = tile[q];
            const real3 d = bj.xyz - pi;
            const real r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, eps2)));
            const real inv = rsqrt(r2);
            const real w = bj.w * (inv * inv * inv);
            acc = fma(d, (real3)(w), acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    // The k partial sums of body b sit at b, b + bodies, b + 2 bodies...
    tile[l] = (real4)(acc, 0.0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint h = k / 2; h > 0; h /= 2) {
        if (s < h) tile[l] += tile[l + h * bodies];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (s == 0 && i < n) {
        const real4 a = tile[l];
        ax[i] = a.x;
        ay[i] = a.y;
        az[i] = a.z;
    }
}
