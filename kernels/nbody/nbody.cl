// All-pairs accelerations with Plummer softening, in `real` (float;
// double with -DHETBENCH_F64). One work-item per
// body; bodies are staged through local memory 256 at a time. Padding slots
// are massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), n, eps2; global 256*ceil(n/256).
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

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void nbody(__global const real *restrict x, __global const real *restrict y,
           __global const real *restrict z, __global const real *restrict m,
           __global real *restrict ax, __global real *restrict ay,
           __global real *restrict az, const uint n, const float eps2) {
    __local real4 tile[256];
    const uint i = get_global_id(0), l = get_local_id(0);
    real3 pi = (real3)(0.0);
    if (i < n) pi = (real3)(x[i], y[i], z[i]);
    real3 acc = (real3)(0.0);
    for (uint t = 0; t < n; t += 256) {
        const uint j = t + l;
        tile[l] = j < n ? (real4)(x[j], y[j], z[j], m[j]) : (real4)(1.0e3, 1.0e3, 1.0e3, 0.0);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint k = 0; k < 256; k++) {
            const real4 b = tile[k];
            const real3 d = b.xyz - pi;
            const real r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, (real)eps2)));
            const real s = b.w / (r2 * sqrt(r2));
            acc = fma(d, (real3)(s), acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < n) {
        ax[i] = acc.x;
        ay[i] = acc.y;
        az[i] = acc.z;
    }
}
