// hls4ml jet-tagging MLP 16-64-32-32-5 (ReLU, softmax), f32.
// One invocation per event. The weights of one layer at a time are staged
// in workgroup memory (at most 2080 floats: fits the 16 KiB WebGPU default);
// every invocation reads the same weight at the same time, a broadcast.
// Features are feature-major (x[f * n + e]), probabilities class-major
// (probs[c * n + e]), so loads and stores are contiguous across invocations.
// Packed weights: per layer the [in][out] matrix, then the bias; layers
// start at 0, 1088, 3168, 4224.
// The features come in two halves of 8 (x_lo: features 0-7, x_hi: 8-15,
// each feature-major), so that no binding is over 128 MiB at 4M events.
// Launch: x_lo, x_hi, weights (in), probs (out), then Params; groups
// ceil(n/128).
struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read> x_lo: array<f32>;
@group(0) @binding(1) var<storage, read> x_hi: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 128u;

var<workgroup> wl: array<f32, 2080>;

// Copies weights[offset .. offset + count] to wl, between barriers.
fn stage(offset: u32, count: u32, l: u32) {
    workgroupBarrier();
    for (var i = l; i < count; i += WG) {
        wl[i] = weights[offset + i];
    }
    workgroupBarrier();
}

@compute @workgroup_size(128, 1, 1)
fn mlp_jet(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let n = p.n;
    let e = gid.x;
    let live = e < n;
    var h0: array<f32, 16>;
    for (var f = 0u; f < 8u; f++) {
        h0[f] = 0.0;
        h0[f + 8u] = 0.0;
        if (live) {
            h0[f] = x_lo[f * n + e];
            h0[f + 8u] = x_hi[f * n + e];
        }
    }

    stage(0u, 1088u, lid.x);
    var h1: array<f32, 64>;
    for (var j = 0u; j < 64u; j++) {
        var acc = wl[1024u + j];
        for (var k = 0u; k < 16u; k++) {
            acc = fma(h0[k], wl[k * 64u + j], acc);
        }
        h1[j] = max(acc, 0.0);
    }

    stage(1088u, 2080u, lid.x);
    var h2: array<f32, 32>;
    for (var j = 0u; j < 32u; j++) {
        var acc = wl[2048u + j];
        for (var k = 0u; k < 64u; k++) {
            acc = fma(h1[k], wl[k * 32u + j], acc);
        }
        h2[j] = max(acc, 0.0);
    }

    stage(3168u, 1056u, lid.x);
    var h3: array<f32, 32>;
    for (var j = 0u; j < 32u; j++) {
        var acc = wl[1024u + j];
        for (var k = 0u; k < 32u; k++) {
            acc = fma(h2[k], wl[k * 32u + j], acc);
        }
        h3[j] = max(acc, 0.0);
    }

    stage(4224u, 165u, lid.x);
    var z: array<f32, 5>;
    var m = -3.0e38;
    for (var j = 0u; j < 5u; j++) {
        var acc = wl[160u + j];
        for (var k = 0u; k < 32u; k++) {
            acc = fma(h3[k], wl[k * 5u + j], acc);
        }
        z[j] = acc;
        m = max(m, acc);
    }
    var s = 0.0;
    for (var j = 0u; j < 5u; j++) {
        z[j] = exp(z[j] - m);
        s += z[j];
    }
    if (live) {
        for (var j = 0u; j < 5u; j++) {
            probs[j * n + e] = z[j] / s;
        }
    }
}
