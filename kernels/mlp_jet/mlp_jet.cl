// hls4ml jet-tagging MLP 16-64-32-32-5 (ReLU, softmax), f32.
// Two events per work-item (events e and e + S, S the global size), so
// that every weight read serves 2 x 4 FMAs. The weights are in __constant
// memory (every work-item reads the same weight at the same time: the
// constant cache's broadcast, or an FMA operand), read four at a time.
// Layers are fused in pairs so that no layer's whole output is held: layer
// 1's neurons, four at a time, go straight into the 32 sums of layer 2, and
// layer 3's into the 5 logits; the largest private state is the 32 sums of
// two events (16 float4). Every loop has a constant trip count.
// Features are feature-major (x[f * n + e]), probabilities class-major
// (probs[c * n + e]): contiguous across work-items.
// Packed weights: per layer the [in][out] matrix, then the bias; layers
// start at 0, 1088, 3168, 4224.
// The features come in two halves of 8 (x_lo: features 0-7, x_hi: 8-15,
// each feature-major), as the WGSL binds them.
// Launch: x_lo, x_hi, weights (in, __constant), probs (out), n;
// global 64 * ceil(n / (2 * 64)).
#define WG 64
// Where each layer starts in the packed weights (floats).
#define L1 0
#define L2 1088
#define L3 3168
#define L4 4224

// Weights i .. i + 4 (i a multiple of 4).
#define W4(i) vload4(0, w + (i))

// Neurons 4 j4 .. 4 j4 + 3 (ReLU) of the layer at `off` (`in` inputs, `out`
// neurons) for the inputs x0 and x1 of two events, stored to a0 and a1.
static void neurons4(__constant float *restrict w, const uint off, const uint in,
                     const uint out, const uint j4, const float *x0, const float *x1,
                     float *a0, float *a1) {
    float4 s0 = W4(off + in * out + 4 * j4), s1 = s0;
    for (uint k = 0; k < in; k++) {
        const float4 wk = W4(off + out * k + 4 * j4);
        s0 = fma((float4)(x0[k]), wk, s0);
        s1 = fma((float4)(x1[k]), wk, s1);
    }
    vstore4(fmax(s0, (float4)(0.0f)), 0, a0);
    vstore4(fmax(s1, (float4)(0.0f)), 0, a1);
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void mlp_jet(__global const float *restrict x_lo, __global const float *restrict x_hi,
             __constant float *restrict w, __global float *restrict probs,
             const uint n) {
    const uint e0 = get_global_id(0), e1 = e0 + get_global_size(0);
    float x0[16], x1[16];
    for (uint f = 0; f < 8; f++) {
        x0[f] = e0 < n ? x_lo[f * n + e0] : 0.0f;
        x0[f + 8] = e0 < n ? x_hi[f * n + e0] : 0.0f;
        x1[f] = e1 < n ? x_lo[f * n + e1] : 0.0f;
        x1[f + 8] = e1 < n ? x_hi[f * n + e1] : 0.0f;
    }

    // Layers 1 and 2: h[q] of layer 2 in float4 q = neurons 4q .. 4q + 3.
    float4 h0[8], h1[8];
    for (uint q = 0; q < 8; q++) h0[q] = h1[q] = W4(L2 + 2048 + 4 * q);
    for (uint j4 = 0; j4 < 16; j4++) {
        float a0c[4], a1c[4];
        neurons4(w, L1, 16, 64, j4, x0, x1, a0c, a1c);
        for (uint c = 0; c < 4; c++) {
            const uint row = L2 + 32 * (4 * j4 + c);
            for (uint q = 0; q < 8; q++) {
                const float4 wq = W4(row + 4 * q);
                h0[q] = fma((float4)(a0c[c]), wq, h0[q]);
                h1[q] = fma((float4)(a1c[c]), wq, h1[q]);
            }
        }
    }
    float g0[32], g1[32];
    for (uint q = 0; q < 8; q++) {
        vstore4(fmax(h0[q], (float4)(0.0f)), q, g0);
        vstore4(fmax(h1[q], (float4)(0.0f)), q, g1);
    }

    // Layers 3 and 4: the logits z of both events.
    float z0[5], z1[5];
    for (uint o = 0; o < 5; o++) z0[o] = z1[o] = w[L4 + 160 + o];
    for (uint j4 = 0; j4 < 8; j4++) {
        float a0c[4], a1c[4];
        neurons4(w, L3, 32, 32, j4, g0, g1, a0c, a1c);
        for (uint c = 0; c < 4; c++) {
            const uint row = L4 + 5 * (4 * j4 + c);
            for (uint o = 0; o < 5; o++) {
                const float wo = w[row + o];
                z0[o] = fma(a0c[c], wo, z0[o]);
                z1[o] = fma(a1c[c], wo, z1[o]);
            }
        }
    }

    float m0 = z0[0], m1 = z1[0];
    for (uint o = 1; o < 5; o++) {
        m0 = fmax(m0, z0[o]);
        m1 = fmax(m1, z1[o]);
    }
    float s0 = 0.0f, s1 = 0.0f;
    for (uint o = 0; o < 5; o++) {
        z0[o] = exp(z0[o] - m0);
        s0 += z0[o];
        z1[o] = exp(z1[o] - m1);
        s1 += z1[o];
    }
    for (uint o = 0; o < 5; o++) {
        if (e0 < n) probs[o * n + e0] = z0[o] / s0;
        if (e1 < n) probs[o * n + e1] = z1[o] / s1;
    }
}
