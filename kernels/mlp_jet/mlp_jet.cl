// hls4ml jet-tagging MLP 16-64-32-32-5 (ReLU, softmax), f32.
// One work-item per event. The weights of one layer at a time are staged in
// local memory (at most 2080 floats); every work-item reads the same weight
// at the same time, a broadcast. Features are feature-major (x[f * n + e]),
// probabilities class-major (probs[c * n + e]): contiguous across work-items.
// Packed weights: per layer the [in][out] matrix, then the bias; layers
// start at 0, 1088, 3168, 4224.
// The features come in two halves of 8 (x_lo: features 0-7, x_hi: 8-15,
// each feature-major), as the WGSL binds them.
// Launch: x_lo, x_hi, weights (in), probs (out), n; global 128*ceil(n/128).
#define WG 128

// Copies weights[offset .. offset + count] to wl, between barriers.
static void stage(__global const float *restrict weights, __local float *wl,
                  uint offset, uint count, uint l) {
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint i = l; i < count; i += WG) wl[i] = weights[offset + i];
    barrier(CLK_LOCAL_MEM_FENCE);
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void mlp_jet(__global const float *restrict x_lo, __global const float *restrict x_hi,
             __global const float *restrict weights,
             __global float *restrict probs, const uint n) {
    __local float wl[2080];
    const uint e = get_global_id(0), l = get_local_id(0);
    const bool live = e < n;
    float h0[16];
    for (uint f = 0; f < 8; f++) {
        h0[f] = live ? x_lo[f * n + e] : 0.0f;
        h0[f + 8] = live ? x_hi[f * n + e] : 0.0f;
    }

    stage(weights, wl, 0, 1088, l);
    float h1[64];
    for (uint j = 0; j < 64; j++) {
        float acc = wl[1024 + j];
        for (uint k = 0; k < 16; k++) acc = fma(h0[k], wl[k * 64 + j], acc);
        h1[j] = fmax(acc, 0.0f);
    }

    stage(weights, wl, 1088, 2080, l);
    float h2[32];
    for (uint j = 0; j < 32; j++) {
        float acc = wl[2048 + j];
        for (uint k = 0; k < 64; k++) acc = fma(h1[k], wl[k * 32 + j], acc);
        h2[j] = fmax(acc, 0.0f);
    }

    stage(weights, wl, 3168, 1056, l);
    float h3[32];
    for (uint j = 0; j < 32; j++) {
        float acc = wl[1024 + j];
        for (uint k = 0; k < 32; k++) acc = fma(h2[k], wl[k * 32 + j], acc);
        h3[j] = fmax(acc, 0.0f);
    }

    stage(weights, wl, 4224, 165, l);
    float z[5];
    float m = -3.0e38f;
    for (uint j = 0; j < 5; j++) {
        float acc = wl[160 + j];
        for (uint k = 0; k < 32; k++) acc = fma(h3[k], wl[k * 5 + j], acc);
        z[j] = acc;
        m = fmax(m, acc);
    }
    float s = 0.0f;
    for (uint j = 0; j < 5; j++) {
        z[j] = exp(z[j] - m);
        s += z[j];
    }
    if (live)
        for (uint j = 0; j < 5; j++) probs[j * n + e] = z[j] / s;
}
