// Hough-transform track finding in integer arithmetic (as on FPGAs).
// Hits: r (mm) and phi (u32 fixed point, 2^32 = 2 pi); slopes[q] is the
// fixed-point phi shift per mm of q/pT bin q. A hit votes in every q bin for
// phi0 = phi + slopes[q] * r (wrapping u32), bin phi0 >> shift.
// Dispatches, every iteration: clear (acc = 0), fill (per workgroup one q row
// and 4096 hits, histogrammed in workgroup memory with atomics, then added
// to acc with u32 atomics), find_peaks (local maxima of the 8 neighbours, phi
// wrapping; strictly above the neighbours before, at least equal to those
// after; at least threshold votes).
// Launch: r, phi, slopes (in), acc, peaks (out), then Params;
// groups (ceil(nphi/256), qbins), (ceil(nhits/4096), qbins), (ceil(nphi/256), qbins).
struct Params {
    nhits: u32,
    qbins: u32,
    nphi: u32,
    shift: u32,
    threshold: u32,
}

@group(0) @binding(0) var<storage, read> r: array<u32>;
@group(0) @binding(1) var<storage, read> phi: array<u32>;
@group(0) @binding(2) var<storage, read> slopes: array<u32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> peaks: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 256u;
const HITS_PER_ITEM: u32 = 16u;

// One q row of at most 2^11 phi bins.
var<workgroup> hist: array<atomic<u32>, 2048>;

@compute @workgroup_size(256, 1, 1)
fn clear(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.nphi && gid.y < p.qbins) {
        atomicStore(&acc[gid.y * p.nphi + gid.x], 0u);
    }
}

@compute @workgroup_size(256, 1, 1)
fn fill(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let q = wid.y;
    let l = lid.x;
    for (var i = l; i < p.nphi; i += WG) {
        atomicStore(&hist[i], 0u);
    }
    workgroupBarrier();
    if (q < p.qbins) {
        let s = slopes[q];
        let base = wid.x * WG * HITS_PER_ITEM;
        for (var k = 0u; k < HITS_PER_ITEM; k++) {
            let h = base + k * WG + l;
            if (h < p.nhits) {
                let b = (phi[h] + s * r[h]) >> p.shift;
                atomicAdd(&hist[b], 1u);
            }
        }
    }
    workgroupBarrier();
    if (q < p.qbins) {
        for (var i = l; i < p.nphi; i += WG) {
            let c = atomicLoad(&hist[i]);
            if (c > 0u) {
                atomicAdd(&acc[q * p.nphi + i], c);
            }
        }
    }
}

@compute @workgroup_size(256, 1, 1)
fn find_peaks(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ph = gid.x;
    let q = gid.y;
    let nphi = p.nphi;
    if (ph >= nphi || q >= p.qbins) {
        return;
    }
    let v = atomicLoad(&acc[q * nphi + ph]);
    var peak = v >= p.threshold;
    for (var dq = -1; dq <= 1; dq++) {
        let qq = i32(q) + dq;
        if (qq < 0 || qq >= i32(p.qbins)) {
            continue;
        }
        for (var dp = -1; dp <= 1; dp++) {
            if (dq == 0 && dp == 0) {
                continue;
            }
            let pp = (ph + nphi + u32(dp + 1) - 1u) % nphi;
            let w = atomicLoad(&acc[u32(qq) * nphi + pp]);
            let before = dq < 0 || (dq == 0 && dp < 0);
            if ((before && v <= w) || (!before && v < w)) {
                peak = false;
            }
        }
    }
    peaks[q * nphi + ph] = select(0u, v, peak);
}
