// Compute peak in `real` (f32, or f64 in the f64 variant): each
// invocation runs 16 independent chains of
// x = a*x + b (four vec4 accumulators, i.e. 16 scalar FMA chains) for
// `iters` iterations in registers and writes their sum, so nothing can be
// optimised away. Chain j of item i starts at x0[i] + j/8.
// The iterations run in blocks of BLOCK_STEPS, a trip count fixed at
// compile time (the compiler can unroll a block whole: 1024 FMAs between
// two loop tests), then the remainder (iters is a multiple of 4).
// Launch: x0 (in), y (out), then Params; workgroups of 64, grid-stride.
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

const WG: u32 = 64u;
// Iterations per block, run as BLOCK_STEPS / 4 rounds of four.
const BLOCK_STEPS: u32 = 64u;

struct Chains {
    c0: vec4<real>,
    c1: vec4<real>,
    c2: vec4<real>,
    c3: vec4<real>,
}

// Four iterations of all 16 chains.
fn four(c: Chains, a: vec4<real>, b: vec4<real>) -> Chains {
    var r = c;
    for (var u = 0u; u < 4u; u++) {
        r.c0 = fma(r.c0, a, b);
        r.c1 = fma(r.c1, a, b);
        r.c2 = fma(r.c2, a, b);
        r.c3 = fma(r.c3, a, b);
    }
    return r;
}

@compute @workgroup_size(64, 1, 1)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) ng: vec3<u32>) {
    let a = vec4<real>(real(p.a));
    let b = vec4<real>(real(p.b));
    let blocks = p.iters / BLOCK_STEPS;
    let rest = (p.iters % BLOCK_STEPS) / 4u;
    for (var i = gid.x; i < p.n; i += ng.x * WG) {
        let s = vec4<real>(x0[i]);
        var c = Chains(
            s + vec4<real>(0.0, 0.125, 0.25, 0.375),
            s + vec4<real>(0.5, 0.625, 0.75, 0.875),
            s + vec4<real>(1.0, 1.125, 1.25, 1.375),
            s + vec4<real>(1.5, 1.625, 1.75, 1.875),
        );
        for (var k = 0u; k < blocks; k++) {
            for (var u = 0u; u < BLOCK_STEPS / 4u; u++) {
                c = four(c, a, b);
            }
        }
        for (var u = 0u; u < rest; u++) {
            c = four(c, a, b);
        }
        let t = (c.c0 + c.c1) + (c.c2 + c.c3);
        y[i] = (t.x + t.y) + (t.z + t.w);
    }
}
