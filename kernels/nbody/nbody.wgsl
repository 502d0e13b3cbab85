// All-pairs accelerations with Plummer softening, in `real` (f32, or f64
// in the f64 variant). Each body is summed by k invocations (p.k, a power
// of two from 1 to 64, chosen from n by the launch so that small n still
// fills a GPU): a workgroup of 256 holds 256 / k bodies, invocation
// l = s * (256 / k) + b works for body b over the slots s, s + k, s + 2k...
// of every tile of 512 bodies staged in workgroup memory, and the k partial
// sums of a body are added in a tree through workgroup memory at the end.
// One inverseSqrt per pair (no square root and division). Padding slots
// are massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), then Params;
// groups ceil(n * k / 256).
alias real = f32;

struct Params {
    n: u32,
    eps2: f32,
    k: u32,
}

@group(0) @binding(0) var<storage, read> x: array<real>;
@group(0) @binding(1) var<storage, read> y: array<real>;
@group(0) @binding(2) var<storage, read> z: array<real>;
@group(0) @binding(3) var<storage, read> m: array<real>;
@group(0) @binding(4) var<storage, read_write> ax: array<real>;
@group(0) @binding(5) var<storage, read_write> ay: array<real>;
@group(0) @binding(6) var<storage, read_write> az: array<real>;
@group(0) @binding(7) var<uniform> p: Params;

const WG: u32 = 256u;
// Bodies staged per step: 8 KiB in f32, 16 KiB in f64.
const TILE: u32 = 512u;

var<workgroup> tile: array<vec4<real>, 512>;

@compute @workgroup_size(256, 1, 1)
fn nbody(@builtin(workgroup_id) wid: vec3<u32>,
         @builtin(local_invocation_index) l: u32) {
    let n = p.n;
    let k = p.k;
    let bodies = WG / k;
    let b = l % bodies;
    let s = l / bodies;
    let i = wid.x * bodies + b;
    var pi = vec3<real>(0.0, 0.0, 0.0);
    if (i < n) {
        pi = vec3<real>(x[i], y[i], z[i]);
    }
    let eps2 = real(p.eps2);
    var acc = vec3<real>(0.0, 0.0, 0.0);
    for (var t = 0u; t < n; t += TILE) {
        for (var c = l; c < TILE; c += WG) {
            let j = t + c;
            var q = vec4<real>(1.0e3, 1.0e3, 1.0e3, 0.0);
            if (j < n) {
                q = vec4<real>(x[j], y[j], z[j], m[j]);
            }
            tile[c] = q;
        }
        workgroupBarrier();
        for (var q = s; q < TILE; q += k) {
            let bj = tile[q];
            let d = bj.xyz - pi;
            let r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, eps2)));
            let inv = inverseSqrt(r2);
            let w = bj.w * (inv * inv * inv);
            acc = fma(d, vec3<real>(w, w, w), acc);
        }
        workgroupBarrier();
    }
    // The k partial sums of body b sit at b, b + bodies, b + 2 bodies...
    tile[l] = vec4<real>(acc, 0.0);
    workgroupBarrier();
    for (var h = k / 2u; h > 0u; h /= 2u) {
        if (s < h) {
            tile[l] = tile[l] + tile[l + h * bodies];
        }
        workgroupBarrier();
    }
    if (s == 0u && i < n) {
        let a = tile[l];
        ax[i] = a.x;
        ay[i] = a.y;
        az[i] = a.z;
    }
}
