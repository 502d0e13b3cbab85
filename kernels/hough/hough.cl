// Hough-transform track finding in integer arithmetic (as on FPGAs).
// Hits: r (mm) and phi (u32 fixed point, 2^32 = 2 pi); slopes[q] is the
// fixed-point phi shift per mm of q/pT bin q. A hit votes in every q bin for
// phi0 = phi + slopes[q] * r (wrapping u32), bin phi0 >> shift.
// Kernels, every iteration: clear (acc = 0), fill (per work-group four q
// rows and 4096 hits, each hit read once and histogrammed in local memory
// with atomic_add, then added to acc with atomic_add), find_peaks (local maxima of the 8 neighbours, phi
// wrapping; strictly above the neighbours before, at least equal to those
// after; at least threshold votes).
// Launch: r, phi, slopes (in), acc, peaks (out), nhits, qbins, nphi, shift,
// threshold; global (256*ceil(nphi/256), qbins), (256*ceil(nhits/4096),
// ceil(qbins/4)), (256*ceil(nphi/256), qbins). nphi is a power of two.
#define WG 256
#define HITS_PER_ITEM 16
// q rows per work-group: each hit is read once and votes in all of them.
// Two rows share a word of the histogram, 16 bits each: a work-group's 4096
// hits give at most 4096 votes per row, so a half never overflows.
#define ROWS 4
#define ARGS __global const uint *restrict r, __global const uint *restrict phi, \
    __global const uint *restrict slopes, __global uint *acc, __global uint *peaks, \
    const uint nhits, const uint qbins, const uint nphi, const uint shift, const uint threshold

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void clear(ARGS) {
    const uint i = get_global_id(0), q = get_global_id(1);
    if (i < nphi && q < qbins) acc[q * nphi + i] = 0;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void fill(ARGS) {
    // ROWS / 2 words for each of at most 2^11 phi bins: 16 KiB.
    __local uint hist[ROWS / 2 * 2048];
    const uint q0 = get_group_id(1) * ROWS, l = get_local_id(0);
    const uint phibits = 32 - shift, words = ROWS / 2 * nphi;
    for (uint i = l; i < words; i += WG) hist[i] = 0;
    // The rows' slopes; a row past the last votes nowhere.
    uint s[ROWS];
    uint rows = 0;
    for (uint j = 0; j < ROWS; j++)
        if (q0 + j < qbins) {
            s[j] = slopes[q0 + j];
            rows = j + 1;
        }
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint base = get_group_id(0) * WG * HITS_PER_ITEM;
    for (uint k = 0; k < HITS_PER_ITEM; k++) {
        const uint h = base + k * WG + l;
        if (h < nhits) {
            const uint rh = r[h], ph = phi[h];
            for (uint j = 0; j < rows; j++)
                atomic_add(&hist[((j >> 1) << phibits) + ((ph + s[j] * rh) >> shift)],
                           1u << ((j & 1) * 16));
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    // Word i holds bin b of rows q and q + 1 (0 in a row past the last).
    for (uint i = l; i < words; i += WG) {
        const uint c = hist[i], q = q0 + 2 * (i >> phibits), b = i & (nphi - 1);
        if (c & 0xffffu) atomic_add(&acc[q * nphi + b], c & 0xffffu);
        if (c >> 16) atomic_add(&acc[(q + 1) * nphi + b], c >> 16);
    }
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void find_peaks(ARGS) {
    const uint ph = get_global_id(0), q = get_global_id(1);
    if (ph >= nphi || q >= qbins) return;
    const uint v = acc[q * nphi + ph];
    bool peak = v >= threshold;
    for (int dq = -1; dq <= 1; dq++) {
        const int qq = (int)q + dq;
        if (qq < 0 || qq >= (int)qbins) continue;
        for (int dp = -1; dp <= 1; dp++) {
            if (dq == 0 && dp == 0) continue;
            const uint pp = (ph + nphi + (uint)(dp + 1) - 1u) % nphi;
            const uint w = acc[(uint)qq * nphi + pp];
            const bool before = dq < 0 || (dq == 0 && dp < 0);
            if ((before && v <= w) || (!before && v < w)) peak = false;
        }
    }
    peaks[q * nphi + ph] = peak ? v : 0;
}
