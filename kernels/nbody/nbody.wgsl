// All-pairs accelerations with Plummer softening, in `real` (f32, or f64
// in the f64 variant). One invocation per
// body; bodies are staged through workgroup memory 256 at a time. Padding
// slots are massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), then Params; groups ceil(n/256).
alias real = f32;

struct Params {
    n: u32,
    eps2: f32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> y: array<real>;
@group(0) @binding(2) var<storage, read> z: array<real>;
@group(0) @binding(3) var<storage, read> m: array<real>;
@group(0) @binding(4) var<storage, read_write> ax: array<real>;
@group(0) @binding(5) var<storage, read_write> ay: array<real>;
@group(0) @binding(6) var<storage, read_write> az: array<real>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> tile: array<vec4<real>, 256>;

@compute @workgroup_size(256, 1, 1)
fn nbody(@builtin(global_invocation_id) gid: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let n = p.n;
    let i = gid.x;
    var pi = vec3<real>(0.0, 0.0, 0.0);
    if (i < n) {
        pi = vec3<real>(x[i], y[i], z[i]);
    }
    var acc = vec3<real>(0.0, 0.0, 0.0);
    for (var t = 0u; t < n; t += 256u) {
        let j = t + lid.x;
        var q = vec4<real>(1.0e3, 1.0e3, 1.0e3, 0.0);
        if (j < n) {
            q = vec4<real>(x[j], y[j], z[j], m[j]);
        }
        tile[lid.x] = q;
        workgroupBarrier();
        for (var k = 0u; k < 256u; k++) {
            let b = tile[k];
            let d = b.xyz - pi;
            let r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, real(p.eps2))));
            let s = b.w / (r2 * sqrt(r2));
            acc = fma(d, vec3<real>(s, s, s), acc);
        }
        workgroupBarrier();
    }
    if (i < n) {
        ax[i] = acc.x;
        ay[i] = acc.y;
        az[i] = acc.z;
    }
}
