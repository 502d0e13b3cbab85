// Compute peak: each work-item runs 16 independent chains of
// x = a*x + b (four float4 accumulators, i.e. 16 scalar FMA chains) for
// `iters` iterations in registers and writes their sum, so nothing can be
// optimised away. Chain j of item i starts at x0[i] + j/8.
// Launch: x0 (in), y (out), n, iters, a, b; work-groups of 256, grid-stride.
__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void fma_peak(__global const float *restrict x0, __global float *restrict y,
              const uint n, const uint iters, const float a_, const float b_) {
    const float4 a = (float4)(a_), b = (float4)(b_);
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) {
        const float4 s = (float4)(x0[i]);
        float4 c0 = s + (float4)(0.0f, 0.125f, 0.25f, 0.375f);
        float4 c1 = s + (float4)(0.5f, 0.625f, 0.75f, 0.875f);
        float4 c2 = s + (float4)(1.0f, 1.125f, 1.25f, 1.375f);
        float4 c3 = s + (float4)(1.5f, 1.625f, 1.75f, 1.875f);
        for (uint k = 0; k < iters; k += 4) {
#pragma unroll
            for (int u = 0; u < 4; u++) {
                c0 = fma(c0, a, b);
                c1 = fma(c1, a, b);
                c2 = fma(c2, a, b);
                c3 = fma(c3, a, b);
            }
        }
        const float4 t = (c0 + c1) + (c2 + c3);
        y[i] = (t.x + t.y) + (t.z + t.w);
    }
}
