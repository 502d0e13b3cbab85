// Hough-transform track finding in integer arithmetic (as on FPGAs).
// Hits: r (mm) and phi (u32 fixed point, 2^32 = 2 pi); slopes[q] is the
// fixed-point phi shift per mm of q/pT bin q. A hit votes in every q bin for
// phi0 = phi + slopes[q] * r (wrapping u32), bin phi0 >> shift.
// Dispatches, every iteration: clear (acc = 0), fill (per workgroup four q
// rows and 4096 hits, each hit read once and histogrammed in workgroup
// memory with atomics, then added to acc with u32 atomics), find_peaks (local maxima of the 8 neighbours, phi
// wrapping; strictly above the neighbours before, at least equal to those
// after; at least threshold votes).
// Launch: r, phi, slopes (in), acc, peaks (out), then Params;
// groups (ceil(nphi/256), qbins), (ceil(nhits/4096), ceil(qbins/4)),
// (ceil(nphi/256), qbins). nphi is a power of two (2^phibits).
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
// q rows per workgroup: each hit is read once and votes in all of them.
// Two rows share a word of the histogram, 16 bits each: a workgroup's 4096
// hits give at most 4096 votes per row, so a half never overflows.
const ROWS: u32 = 4u;

// ROWS / 2 words for each of at most 2^11 phi bins: 16 KiB.
var<workgroup> hist: array<atomic<u32>, 4096>;

@compute @workgroup_size(256, 1, 1)
fn clear(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < p.nphi && gid.y < p.qbins) {
        atomicStore(&acc[gid.y * p.nphi + gid.x], 0u);
    }
}

@compute @workgroup_size(256, 1, 1)
fn fill(@builtin(workgroup_id) wid: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let q0 = wid.y * ROWS;
    let l = lid.x;
    let phibits = 32u - p.shift;
    let words = (ROWS / 2u) * p.nphi;
    for (var i = l; i < words; i += WG) {
        atomicStore(&hist[i], 0u);
    }
    // The rows' slopes; a row past the last votes nowhere.
    var s: array<u32, ROWS>;
    var rows = 0u;
    for (var j = 0u; j < ROWS; j++) {
        if (q0 + j < p.qbins) {
            s[j] = slopes[q0 + j];
            rows = j + 1u;
        }
    }
    workgroupBarrier();
    let base = wid.x * WG * HITS_PER_ITEM;
    for (var k = 0u; k < HITS_PER_ITEM; k++) {
        let h = base + k * WG + l;
        if (h < p.nhits) {
            let rh = r[h];
            let ph = phi[h];
            for (var j = 0u; j < rows; j++) {
                let b = (ph + s[j] * rh) >> p.shift;
                atomicAdd(&hist[((j >> 1u) << phibits) + b], 1u << ((j & 1u) * 16u));
            }
        }
    }
    workgroupBarrier();
    // Word i holds bin b of rows q and q + 1 (0 in a row past the last).
    for (var i = l; i < words; i += WG) {
        let c = atomicLoad(&hist[i]);
        let q = q0 + 2u * (i >> phibits);
        let b = i & (p.nphi - 1u);
        if ((c & 0xffffu) > 0u) {
            atomicAdd(&acc[q * p.nphi + b], c & 0xffffu);
        }
        if ((c >> 16u) > 0u) {
            atomicAdd(&acc[(q + 1u) * p.nphi + b], c >> 16u);
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
