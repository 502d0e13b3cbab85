// Compute peak in `real` (float; double with -DHETBENCH_F64): each
// work-item runs 16 independent chains of
// x = a*x + b (four float4 accumulators, i.e. 16 scalar FMA chains) for
// `iters` iterations in registers and writes their sum, so nothing can be
// optimised away. Chain j of item i starts at x0[i] + j/8.
// The iterations run in blocks of BLOCK_STEPS, a trip count fixed at
// compile time (unrolled whole: 1024 scalar FMAs between two loop tests),
// then the remainder. The same constant as the WGSL's.
// Launch: x0 (in), y (out), n, iters, a, b; work-groups of 64, grid-stride.
#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double4 real4;
#else
typedef float real;
typedef float4 real4;
#endif

#define WG 64
// Iterations per block (unrolled whole).
#define BLOCK_STEPS 64

// One iteration of all 16 chains.
#define STEP()                                                                 \
    c0 = fma(c0, a, b);                                                        \
    c1 = fma(c1, a, b);                                                        \
    c2 = fma(c2, a, b);                                                        \
    c3 = fma(c3, a, b);

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void fma_peak(__global const real *restrict x0, __global real *restrict y,
              const uint n, const uint iters, const float a_, const float b_) {
    const real4 a = (real4)((real)a_), b = (real4)((real)b_);
    const uint blocks = iters / BLOCK_STEPS, rest = iters % BLOCK_STEPS;
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) {
        const real4 s = (real4)(x0[i]);
        real4 c0 = s + (real4)(0.0, 0.125, 0.25, 0.375);
        real4 c1 = s + (real4)(0.5, 0.625, 0.75, 0.875);
        real4 c2 = s + (real4)(1.0, 1.125, 1.25, 1.375);
        real4 c3 = s + (real4)(1.5, 1.625, 1.75, 1.875);
        for (uint k = 0; k < blocks; k++) {
#pragma unroll
            for (int u = 0; u < BLOCK_STEPS; u++) {
                STEP()
            }
        }
#pragma unroll 4
        for (uint u = 0; u < rest; u++) {
            STEP()
        }
        const real4 t = (c0 + c1) + (c2 + c3);
        y[i] = (t.x + t.y) + (t.z + t.w);
    }
}
