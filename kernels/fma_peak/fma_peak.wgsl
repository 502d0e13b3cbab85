// Compute peak in `real` (f32, or f64 in the f64 variant): each
// invocation runs 16 independent chains of
// x = a*x + b (four vec4 accumulators, i.e. 16 scalar FMA chains) for
// `iters` iterations in registers and writes their sum, so nothing can be
// optimised away. Chain j of item i starts at x0[i] + j/8.
// Launch: x0 (in), y (out), then Params; workgroups of 256, grid-stride.
alias real = f32;

struct Params {
    n: u32,
    iters: u32,
    a: f32,
    b: f32,
}

@group(0) @binding(0) var<storage, read> x0: array<real>;
@group(0) @binding(1) var<storage, read_write> y: array<real>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) ng: vec3<u32>) {
    let a = vec4<real>(real(p.a));
    let b = vec4<real>(real(p.b));
    for (var i = gid.x; i < p.n; i += ng.x * 256u) {
        let s = vec4<real>(x0[i]);
        var c0 = s + vec4<real>(0.0, 0.125, 0.25, 0.375);
        var c1 = s + vec4<real>(0.5, 0.625, 0.75, 0.875);
        var c2 = s + vec4<real>(1.0, 1.125, 1.25, 1.375);
        var c3 = s + vec4<real>(1.5, 1.625, 1.75, 1.875);
        for (var k = 0u; k < p.iters; k += 4u) {
            c0 = fma(c0, a, b);
            c1 = fma(c1, a, b);
            c2 = fma(c2, a, b);
            c3 = fma(c3, a, b);
            c0 = fma(c0, a, b);
            c1 = fma(c1, a, b);
            c2 = fma(c2, a, b);
            c3 = fma(c3, a, b);
            c0 = fma(c0, a, b);
            c1 = fma(c1, a, b);
            c2 = fma(c2, a, b);
            c3 = fma(c3, a, b);
            c0 = fma(c0, a, b);
            c1 = fma(c1, a, b);
            c2 = fma(c2, a, b);
            c3 = fma(c3, a, b);
        }
        let t = (c0 + c1) + (c2 + c3);
        y[i] = (t.x + t.y) + (t.z + t.w);
    }
}
