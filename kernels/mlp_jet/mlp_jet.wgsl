// hls4ml jet-tagging MLP 16-64-32-32-5 (ReLU, softmax), f32.
// Two events per invocation (events e and e + S, S the number of
// invocations), so that every weight read serves 2 x 4 FMAs. The weights
// are a uniform buffer (every invocation reads the same weight at the same
// time: the constant cache's broadcast, or an FMA operand), four to a vec4,
// the 16-byte stride of uniform arrays (4389 floats padded to 1098 vec4).
// Layers are fused in pairs so that no layer's whole output is held: layer
// 1's neurons, four at a time, go straight into the 32 sums of layer 2, and
// layer 3's into the 5 logits; the largest private state is the 32 sums of
// two events (16 vec4). Every loop has a constant trip count.
// Features are feature-major (x[f * n + e]), probabilities class-major
// (probs[c * n + e]), so loads and stores are contiguous across invocations.
// Packed weights: per layer the [in][out] matrix, then the bias; layers
// start at 0, 1088, 3168, 4224.
// The features come in two halves of 8 (x_lo: features 0-7, x_hi: 8-15,
// each feature-major), so that no binding is over 128 MiB at 4M events.
// Launch: x_lo, x_hi (in), weights (in, uniform), probs (out), then
// Params; groups ceil(n / (2 * 64)).
struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read> x_lo: array<f32>;
@group(0) @binding(1) var<storage, read> x_hi: array<f32>;
@group(0) @binding(2) var<uniform> w: array<vec4<f32>, 1098>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 64u;
// Events per invocation.
const EV: u32 = 2u;
// Where each layer starts in the packed weights (floats).
const L1: u32 = 0u;
const L2: u32 = 1088u;
const L3: u32 = 3168u;
const L4: u32 = 4224u;

// Weights i .. i + 4 (i a multiple of 4).
fn w4(i: u32) -> vec4<f32> {
    return w[i / 4u];
}

// Weight i.
fn w1(i: u32) -> f32 {
    return w[i / 4u][i % 4u];
}

@compute @workgroup_size(64, 1, 1)
fn mlp_jet(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(num_workgroups) ng: vec3<u32>) {
    let n = p.n;
    let stride = ng.x * WG;
    var x: array<array<f32, 16>, 2>;
    for (var e = 0u; e < EV; e++) {
        let ev = gid.x + e * stride;
        for (var f = 0u; f < 8u; f++) {
            x[e][f] = 0.0;
            x[e][f + 8u] = 0.0;
            if (ev < n) {
                x[e][f] = x_lo[f * n + ev];
                x[e][f + 8u] = x_hi[f * n + ev];
            }
        }
    }

    // Layers 1 and 2: h[q] of layer 2 in vec4 q = neurons 4q .. 4q + 3.
    var h: array<array<vec4<f32>, 8>, 2>;
    for (var q = 0u; q < 8u; q++) {
        let b = w4(L2 + 2048u + 4u * q);
        h[0][q] = b;
        h[1][q] = b;
    }
    for (var j4 = 0u; j4 < 16u; j4++) {
        // Layer-1 neurons 4 j4 .. 4 j4 + 3 of both events.
        let b = w4(L1 + 1024u + 4u * j4);
        var a0 = b;
        var a1 = b;
        for (var k = 0u; k < 16u; k++) {
            let wk = w4(L1 + 64u * k + 4u * j4);
            a0 = fma(vec4<f32>(x[0][k]), wk, a0);
            a1 = fma(vec4<f32>(x[1][k]), wk, a1);
        }
        a0 = max(a0, vec4<f32>(0.0));
        a1 = max(a1, vec4<f32>(0.0));
        for (var c = 0u; c < 4u; c++) {
            let row = L2 + 32u * (4u * j4 + c);
            for (var q = 0u; q < 8u; q++) {
                let wq = w4(row + 4u * q);
                h[0][q] = fma(vec4<f32>(a0[c]), wq, h[0][q]);
                h[1][q] = fma(vec4<f32>(a1[c]), wq, h[1][q]);
            }
        }
    }
    for (var q = 0u; q < 8u; q++) {
        h[0][q] = max(h[0][q], vec4<f32>(0.0));
        h[1][q] = max(h[1][q], vec4<f32>(0.0));
    }

    // Layers 3 and 4: the logits z of both events.
    var z: array<array<f32, 5>, 2>;
    for (var c = 0u; c < 5u; c++) {
        let b = w1(L4 + 160u + c);
        z[0][c] = b;
        z[1][c] = b;
    }
    for (var j4 = 0u; j4 < 8u; j4++) {
        // Layer-3 neurons 4 j4 .. 4 j4 + 3 of both events.
        let b = w4(L3 + 1024u + 4u * j4);
        var a0 = b;
        var a1 = b;
        for (var k4 = 0u; k4 < 8u; k4++) {
            for (var c = 0u; c < 4u; c++) {
                let wk = w4(L3 + 32u * (4u * k4 + c) + 4u * j4);
                a0 = fma(vec4<f32>(h[0][k4][c]), wk, a0);
                a1 = fma(vec4<f32>(h[1][k4][c]), wk, a1);
            }
        }
        a0 = max(a0, vec4<f32>(0.0));
        a1 = max(a1, vec4<f32>(0.0));
        for (var c = 0u; c < 4u; c++) {
            let row = L4 + 5u * (4u * j4 + c);
            for (var o = 0u; o < 5u; o++) {
                let wo = w1(row + o);
                z[0][o] = fma(a0[c], wo, z[0][o]);
                z[1][o] = fma(a1[c], wo, z[1][o]);
            }
        }
    }

    for (var e = 0u; e < EV; e++) {
        let ev = gid.x + e * stride;
        var m = z[e][0];
        for (var c = 1u; c < 5u; c++) {
            m = max(m, z[e][c]);
        }
        var s = 0.0;
        for (var c = 0u; c < 5u; c++) {
            z[e][c] = exp(z[e][c] - m);
            s += z[e][c];
        }
        if (ev < n) {
            for (var c = 0u; c < 5u; c++) {
                probs[c * n + ev] = z[e][c] / s;
            }
        }
    }
}
