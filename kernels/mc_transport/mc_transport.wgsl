// Photon transport through a layered sampling calorimeter (f32): layers
// along z alternate absorber (even) and active (odd) material, infinite in
// x and y. Each photon starts at z = 0 along +z with energy e0 and is
// tracked by its layer, its depth in the layer and its direction cosine w:
// free paths from the tabulated total attenuation, Compton scattering
// (Klein-Nishina, sampled as Geant4's G4KleinNishinaCompton) or
// photo-absorption, local energy deposit per layer, photons below the
// table's lowest energy absorbed. Random numbers: Philox 4x32-10 with
// counter (photon, step, trial, 0) and key (seed_lo, seed_hi), identical to
// the Rust and OpenCL C versions.
// Deposits are counted in u32 fixed point (quantum e0 / 65536, rounded to
// nearest per deposit) with workgroup atomics, written as one partial per
// workgroup and layer, and summed exactly (64-bit as two u32) by `reduce`.
// Launch: xs (in), partials (out, u32), deposit (out, u32), then Params.
// `transport`: workgroups of 256, grid-stride over photons; `reduce`: one
// workgroup of 256 per layer.
struct Params {
    n: u32,
    layers: u32,
    groups: u32,
    seed_lo: u32,
    seed_hi: u32,
    e0: f32,
    inv_q: f32,
    e_cut: f32,
    log_emin: f32,
    inv_dl: f32,
    t_abs: f32,
    t_act: f32,
}

@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<u32>;
@group(0) @binding(2) var<storage, read_write> deposit: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

const NE: u32 = 128u;
const MAX_LAYERS: u32 = 64u;
const MAX_STEPS: u32 = 1024u;
const MAX_TRIALS: u32 = 16u;
const MEC2: f32 = 0.51099895;
const TWO_PI: f32 = 6.2831853071795864;

var<workgroup> acc: array<atomic<u32>, 64>;
var<workgroup> red_lo: array<u32, 256>;
var<workgroup> red_hi: array<u32, 256>;

// (hi, lo) of the 64-bit product a * b. WGSL has no high multiply, so the
// high word comes from 16-bit halves (Hacker's Delight's mulhu): four
// 16 x 16 products, none of whose partial sums can carry out of 32 bits;
// a is Philox's constant multiplier at every call, so its halves fold.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let t = ah * bl + ((al * bl) >> 16u);
    let w = al * bh + (t & 0xffffu);
    return vec2<u32>(ah * bh + (t >> 16u) + (w >> 16u), a * b);
}

fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var r = 0u; r < 10u; r++) {
        if (r > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// Uniform in (0, 1) from the top 23 bits: 2^-24 to 1 - 2^-24, exact in f32.
fn uni(r: u32) -> f32 {
    return (f32(r >> 9u) + 0.5) * 1.1920928955078125e-7;
}

// cos(2 pi u) for u in [0, 1): reduced to [0, pi/2], Taylor to x^14.
fn cos2pi(u: f32) -> f32 {
    let a = abs(u - 0.5);
    var t = a;
    var sign = -1.0;
    if (a > 0.25) {
        t = 0.5 - a;
        sign = 1.0;
    }
    let x = TWO_PI * t;
    let x2 = x * x;
    var c = -1.1470745597729725e-11;
    c = c * x2 + 2.08767569878681e-9;
    c = c * x2 - 2.755731922398589e-7;
    c = c * x2 + 2.48015873015873e-5;
    c = c * x2 - 1.388888888888889e-3;
    c = c * x2 + 4.16666666666667e-2;
    c = c * x2 - 0.5;
    c = c * x2 + 1.0;
    return sign * c;
}

fn add_deposit(layer: u32, e: f32) {
    atomicAdd(&acc[layer], u32(floor(e * p.inv_q + 0.5)));
}

// A photon's state between steps.
struct Photon {
    e: f32,
    layer: u32,
    zl: f32,
    w: f32,
    step: u32,
}

fn fresh() -> Photon {
    return Photon(p.e0, 0u, 0.0, 1.0, 0u);
}

// One step of photon i: a free path to the next boundary crossing or
// interaction. True when its history has ended (it left, or was absorbed).
fn advance(i: u32, ph: ptr<function, Photon>) -> bool {
    let key = vec2<u32>(p.seed_lo, p.seed_hi);
    let step = (*ph).step;
    var e = (*ph).e;
    var w = (*ph).w;
    let layer = (*ph).layer;
    let zl = (*ph).zl;
    let r = philox(vec4<u32>(i, step, 0u, 0u), key);
    let mat = layer & 1u;
    var thick = p.t_abs;
    if (mat == 1u) {
        thick = p.t_act;
    }
    let u = (log(e) - p.log_emin) * p.inv_dl;
    let j = min(u32(max(u, 0.0)), NE - 2u);
    let f = u - f32(j);
    let b = (mat * NE + j) * 2u;
    let mu = xs[b] + f * (xs[b + 2u] - xs[b]);
    let pc = xs[b + 1u] + f * (xs[b + 3u] - xs[b + 1u]);
    let s = -log(uni(r.x)) / mu;
    var dist = 1.0e30;
    if (w > 0.0) {
        dist = (thick - zl) / w;
    } else if (w < 0.0) {
        dist = -zl / w;
    }
    if (s >= dist) {
        if (w > 0.0) {
            (*ph).layer = layer + 1u;
            (*ph).zl = 0.0;
            return layer + 1u >= p.layers;
        }
        if (layer == 0u) {
            return true;
        }
        (*ph).layer = layer - 1u;
        (*ph).zl = p.t_abs;
        if (((layer - 1u) & 1u) == 1u) {
            (*ph).zl = p.t_act;
        }
        return false;
    }
    (*ph).zl = zl + s * w;
    if (uni(r.y) >= pc) {
        add_deposit(layer, e);
        return true;
    }
    // Compton scattering, Klein-Nishina.
    let k = e / MEC2;
    let eps0 = 1.0 / (1.0 + 2.0 * k);
    let eps0sq = eps0 * eps0;
    let a1 = -log(eps0);
    let a2 = a1 + 0.5 * (1.0 - eps0sq);
    var eps = 1.0;
    var onecost = 0.0;
    var sint2 = 0.0;
    for (var trial = 0u; trial < MAX_TRIALS; trial++) {
        let q = philox(vec4<u32>(i, step, trial + 1u, 0u), key);
        var epssq: f32;
        // a2 already holds a1: part one with probability a1 / a2.
        if (a1 > uni(q.x) * a2) {
            eps = exp(-a1 * uni(q.y));
            epssq = eps * eps;
        } else {
            epssq = eps0sq + (1.0 - eps0sq) * uni(q.y);
            eps = sqrt(epssq);
        }
        onecost = (1.0 - eps) / (eps * k);
        sint2 = onecost * (2.0 - onecost);
        let g = 1.0 - eps * sint2 / (1.0 + epssq);
        if (g >= uni(q.z)) {
            break;
        }
    }
    let cost = 1.0 - onecost;
    let sint = sqrt(max(sint2, 0.0));
    add_deposit(layer, e * (1.0 - eps));
    e = e * eps;
    w = clamp(w * cost + sqrt(max(1.0 - w * w, 0.0)) * sint * cos2pi(uni(r.z)), -1.0, 1.0);
    (*ph).e = e;
    (*ph).w = w;
    if (e < p.e_cut) {
        add_deposit(layer, e);
        return true;
    }
    return false;
}

// Persistent invocations: each holds one photon at a time and takes one step
// per turn of the loop, and one whose photon has ended takes the next of the
// grid-stride sequence at once, so the lanes of a warp stay busy until the
// last photons (a loop over photons around a loop over steps would keep a
// lane idle until the slowest photon of its warp ended, photon by photon).
@compute @workgroup_size(256, 1, 1)
fn transport(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(local_invocation_index) lid: u32,
             @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) ng: vec3<u32>) {
    if (lid < MAX_LAYERS) {
        atomicStore(&acc[lid], 0u);
    }
    workgroupBarrier();
    let stride = ng.x * 256u;
    var i = gid.x;
    var ph = fresh();
    loop {
        if (i >= p.n) {
            break;
        }
        var done = advance(i, &ph);
        if (!done) {
            ph.step += 1u;
            done = ph.step >= MAX_STEPS;
        }
        if (done) {
            i += stride;
            ph = fresh();
        }
    }
    workgroupBarrier();
    if (lid < p.layers) {
        partials[wid.x * p.layers + lid] = atomicLoad(&acc[lid]);
    }
}

// deposit[2l], deposit[2l + 1] = low and high words of the sum over
// the `groups` workgroups of transport of partials[g * layers + l].
@compute @workgroup_size(256, 1, 1)
fn reduce(@builtin(local_invocation_index) lid: u32,
          @builtin(workgroup_id) wid: vec3<u32>) {
    let l = wid.x;
    let groups = p.groups;
    var lo = 0u;
    var hi = 0u;
    for (var g = lid; g < groups; g += 256u) {
        let v = partials[g * p.layers + l];
        lo += v;
        if (lo < v) {
            hi += 1u;
        }
    }
    red_lo[lid] = lo;
    red_hi[lid] = hi;
    workgroupBarrier();
    for (var stride = 128u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            let a = red_lo[lid];
            let s = a + red_lo[lid + stride];
            red_hi[lid] = red_hi[lid] + red_hi[lid + stride] + select(0u, 1u, s < a);
            red_lo[lid] = s;
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        deposit[2u * l] = red_lo[0];
        deposit[2u * l + 1u] = red_hi[0];
    }
}
