// STREAM triad a = b + s*c in `real` (float; double with -DHETBENCH_F64),
// grid-stride over n elements.
// Launch: a (out), b, c (in), n, s; work-groups of 256.
#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void triad(__global real *restrict a, __global const real *restrict b,
           __global const real *restrict c, const uint n, const float s) {
    const uint stride = get_global_size(0);
    for (uint i = get_global_id(0); i < n; i += stride) {
        a[i] = fma((real)s, c[i], b[i]);
    }
}
