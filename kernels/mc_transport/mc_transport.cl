// Photon transport through a layered sampling calorimeter (f32): layers
// along z alternate absorber (even) and active (odd) material, infinite in
// x and y. Each photon starts at z = 0 along +z with energy e0 and is
// tracked by its layer, its depth in the layer and its direction cosine w:
// free paths from the tabulated total attenuation, Compton scattering
// (Klein-Nishina, sampled as Geant4's G4KleinNishinaCompton) or
// photo-absorption, local energy deposit per layer, photons below e_cut
// absorbed. Random numbers: Philox 4x32-10 with counter
// (photon, step, trial, 0) and key (seed_lo, seed_hi), identical to the Rust
// and WGSL versions.
// Deposits are counted in u32 fixed point (quantum e0 / 65536, rounded to
// nearest per deposit) with local atomics, written as one partial per
// work-group and layer, and summed exactly (64-bit) by `reduce`.
// Launch: xs (in), partials (out, uint), deposit (out, uint), n, layers,
// groups, seed_lo, seed_hi, e0, inv_q, e_cut, log_emin, inv_dl, t_abs, t_act.
// `transport`: work-groups of 256, grid-stride over photons; `reduce`: one
// work-group of 256 per layer.

#define NE 128u
#define MAX_LAYERS 64u
#define MAX_STEPS 1024u
#define MAX_TRIALS 16u
#define MEC2 0.51099895f
#define TWO_PI 6.2831853071795864f

static inline uint4 philox(uint4 c, uint2 k) {
    for (uint r = 0; r < 10; r++) {
        if (r > 0) k += (uint2)(0x9E3779B9u, 0xBB67AE85u);
        const uint h0 = mul_hi(0xD2511F53u, c.x), l0 = 0xD2511F53u * c.x;
        const uint h1 = mul_hi(0xCD9E8D57u, c.z), l1 = 0xCD9E8D57u * c.z;
        c = (uint4)(h1 ^ c.y ^ k.x, l1, h0 ^ c.w ^ k.y, l0);
    }
    return c;
}

// Uniform in (0, 1) from the top 23 bits: 2^-24 to 1 - 2^-24, exact in f32.
static inline float uni(uint r) { return ((float)(r >> 9) + 0.5f) * 1.1920928955078125e-7f; }

// cos(2 pi u) for u in [0, 1): reduced to [0, pi/2], Taylor to x^14.
static inline float cos2pi(float u) {
    const float a = fabs(u - 0.5f);
    float t = a, sign = -1.0f;
    if (a > 0.25f) {
        t = 0.5f - a;
        sign = 1.0f;
    }
    const float x = TWO_PI * t, x2 = x * x;
    float c = -1.1470745597729725e-11f;
    c = c * x2 + 2.08767569878681e-9f;
    c = c * x2 - 2.755731922398589e-7f;
    c = c * x2 + 2.48015873015873e-5f;
    c = c * x2 - 1.388888888888889e-3f;
    c = c * x2 + 4.16666666666667e-2f;
    c = c * x2 - 0.5f;
    c = c * x2 + 1.0f;
    return sign * c;
}

#define DEPOSIT(layer, e) atomic_add(&acc[layer], (uint)floor((e) * inv_q + 0.5f))

// A photon's state between steps.
typedef struct {
    float e, zl, w;
    uint layer, step;
} photon_t;

// One step of photon i: a free path to the next boundary crossing or
// interaction. True when its history has ended (it left, or was absorbed).
static bool advance(const uint i, photon_t *ph, __global const float *restrict xs,
                    __local uint *acc, const uint layers, const uint2 key, const float inv_q,
                    const float e_cut, const float log_emin, const float inv_dl,
                    const float t_abs, const float t_act) {
    const uint step = ph->step, layer = ph->layer;
    const float zl = ph->zl;
    float e = ph->e, w = ph->w;
    const uint4 r = philox((uint4)(i, step, 0, 0), key);
    const uint mat = layer & 1u;
    const float thick = mat == 1u ? t_act : t_abs;
    const float u = (log(e) - log_emin) * inv_dl;
    const uint j = min((uint)fmax(u, 0.0f), NE - 2u);
    const float f = u - (float)j;
    const uint b = (mat * NE + j) * 2u;
    const float mu = xs[b] + f * (xs[b + 2] - xs[b]);
    const float pc = xs[b + 1] + f * (xs[b + 3] - xs[b + 1]);
    const float s = -log(uni(r.x)) / mu;
    float dist = 1.0e30f;
    if (w > 0.0f) dist = (thick - zl) / w;
    else if (w < 0.0f) dist = -zl / w;
    if (s >= dist) {
        if (w > 0.0f) {
            ph->layer = layer + 1;
            ph->zl = 0.0f;
            return layer + 1 >= layers;
        }
        if (layer == 0) return true;
        ph->layer = layer - 1;
        ph->zl = ((layer - 1) & 1u) == 1u ? t_act : t_abs;
        return false;
    }
    ph->zl = zl + s * w;
    if (uni(r.y) >= pc) {
        DEPOSIT(layer, e);
        return true;
    }
    // Compton scattering, Klein-Nishina.
    const float k = e / MEC2;
    const float eps0 = 1.0f / (1.0f + 2.0f * k);
    const float eps0sq = eps0 * eps0;
    const float a1 = -log(eps0);
    const float a2 = a1 + 0.5f * (1.0f - eps0sq);
    float eps = 1.0f, onecost = 0.0f, sint2 = 0.0f;
    for (uint trial = 0; trial < MAX_TRIALS; trial++) {
        const uint4 q = philox((uint4)(i, step, trial + 1, 0), key);
        float epssq;
        // a2 already holds a1: part one with probability a1 / a2.
        if (a1 > uni(q.x) * a2) {
            eps = exp(-a1 * uni(q.y));
            epssq = eps * eps;
        } else {
            epssq = eps0sq + (1.0f - eps0sq) * uni(q.y);
            eps = sqrt(epssq);
        }
        onecost = (1.0f - eps) / (eps * k);
        sint2 = onecost * (2.0f - onecost);
        const float g = 1.0f - eps * sint2 / (1.0f + epssq);
        if (g >= uni(q.z)) break;
    }
    const float cost = 1.0f - onecost;
    const float sint = sqrt(fmax(sint2, 0.0f));
    DEPOSIT(layer, e * (1.0f - eps));
    e = e * eps;
    w = clamp(w * cost + sqrt(fmax(1.0f - w * w, 0.0f)) * sint * cos2pi(uni(r.z)), -1.0f, 1.0f);
    ph->e = e;
    ph->w = w;
    if (e < e_cut) {
        DEPOSIT(layer, e);
        return true;
    }
    return false;
}

#define ARGS __global const float *restrict xs, __global uint *restrict partials, \
             __global uint *restrict deposit, const uint n, const uint layers, \
             const uint groups, const uint seed_lo, const uint seed_hi, const float e0, \
             const float inv_q, const float e_cut, const float log_emin, const float inv_dl, \
             const float t_abs, const float t_act

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void transport(ARGS) {
    __local uint acc[MAX_LAYERS];
    const uint lid = get_local_id(0);
    if (lid < MAX_LAYERS) acc[lid] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint2 key = (uint2)(seed_lo, seed_hi);
    // Persistent work-items: each holds one photon at a time and takes one
    // step per turn of the loop, and one whose photon has ended takes the
    // next of the grid-stride sequence at once, so the lanes of a warp stay
    // busy until the last photons (a loop over photons around a loop over
    // steps would keep a lane idle until the slowest photon of its warp
    // ended, photon by photon).
    const photon_t fresh = {e0, 0.0f, 1.0f, 0, 0};
    photon_t ph = fresh;
    uint i = get_global_id(0);
    while (i < n) {
        bool done = advance(i, &ph, xs, acc, layers, key, inv_q, e_cut, log_emin, inv_dl,
                            t_abs, t_act);
        if (!done) done = ++ph.step >= MAX_STEPS;
        if (done) {
            i += get_global_size(0);
            ph = fresh;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < layers) partials[get_group_id(0) * layers + lid] = acc[lid];
}

// deposit[2l], deposit[2l + 1] = low and high words of the sum over the
// `groups` work-groups of transport of partials[g * layers + l].
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void reduce(ARGS) {
    __local uint red_lo[256], red_hi[256];
    const uint lid = get_local_id(0), l = get_group_id(0);
    uint lo = 0, hi = 0;
    for (uint g = lid; g < groups; g += 256) {
        const uint v = partials[g * layers + l];
        lo += v;
        if (lo < v) hi += 1;
    }
    red_lo[lid] = lo;
    red_hi[lid] = hi;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint stride = 128; stride > 0; stride >>= 1) {
        if (lid < stride) {
            const uint a = red_lo[lid], s = a + red_lo[lid + stride];
            red_hi[lid] = red_hi[lid] + red_hi[lid + stride] + (s < a ? 1u : 0u);
            red_lo[lid] = s;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        deposit[2 * l] = red_lo[0];
        deposit[2 * l + 1] = red_hi[0];
    }
}
