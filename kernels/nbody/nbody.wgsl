// All-pairs accelerations with Plummer softening (f32). One invocation per
// body; bodies are staged through workgroup memory 256 at a time. Padding
// slots are massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), then Params; groups ceil(n/256).
struct Params {
    n: u32,
    eps2: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> ax: array<f32>;
@group(0) @binding(5) var<storage, read_write> ay: array<f32>;
@group(0) @binding(6) var<storage, read_write> az: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> tile: array<vec4<f32>, 256>;

@compute @workgroup_size(256, 1, 1)
fn nbody(@builtin(global_invocation_id) gid: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let n = p.n;
    let i = gid.x;
    var pi = vec3<f32>(0.0, 0.0, 0.0);
    if (i < n) {
        pi = vec3<f32>(x[i], y[i], z[i]);
    }
    var acc = vec3<f32>(0.0, 0.0, 0.0);
    for (var t = 0u; t < n; t += 256u) {
        let j = t + lid.x;
        var q = vec4<f32>(1.0e3, 1.0e3, 1.0e3, 0.0);
        if (j < n) {
            q = vec4<f32>(x[j], y[j], z[j], m[j]);
        }
        tile[lid.x] = q;
        workgroupBarrier();
        for (var k = 0u; k < 256u; k++) {
            let b = tile[k];
            let d = b.xyz - pi;
            let r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, p.eps2)));
            let s = b.w / (r2 * sqrt(r2));
            acc = fma(d, vec3<f32>(s, s, s), acc);
        }
        workgroupBarrier();
    }
    if (i < n) {
        ax[i] = acc.x;
        ay[i] = acc.y;
        az[i] = acc.z;
    }
}
