// STREAM triad a = b + s*c in `real` (f32, or f64 in the f64 variant),
// grid-stride over n elements.
// Launch: a (out), b, c (in), then Params; workgroups of 256.
alias real = f32;

struct Params {
    n: u32,
    s: f32,
}

@group(0) @binding(0) var<storage, read_write> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read> c: array<real>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn triad(@builtin(global_invocation_id) gid: vec3<u32>,
         @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * 256u;
    for (var i = gid.x; i < p.n; i += stride) {
        a[i] = fma(real(p.s), c[i], b[i]);
    }
}
