// Hough-transform track finding in integer arithmetic (as on FPGAs).
// Hits: r (mm) and phi (u32 fixed point, 2^32 = 2 pi); slopes[q] is the
// fixed-point phi shift per mm of q/pT bin q. A hit votes in every q bin for
// phi0 = phi + slopes[q] * r (wrapping u32), bin phi0 >> shift.
// Kernels, every iteration: clear (acc = 0), fill (per work-group one q row
// and 4096 hits, histogrammed in local memory with atomic_inc, then added to
// acc with atomic_add), find_peaks (local maxima of the 8 neighbours, phi
// wrapping; strictly above the neighbours before, at least equal to those
// after; at least threshold votes).
// Launch: r, phi, slopes (in), acc, peaks (out), nhits, qbins, nphi, shift,
// threshold; global (256*ceil(nphi/256), qbins), (256*ceil(nhits/4096), qbins),
// (256*ceil(nphi/256), qbins).
#define WG 256
#define HITS_PER_ITEM 16
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
    __local uint hist[2048];
    const uint q = get_group_id(1), l = get_local_id(0);
    for (uint i = l; i < nphi; i += WG) hist[i] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (q < qbins) {
        const uint s = slopes[q];
        const uint base = get_group_id(0) * WG * HITS_PER_ITEM;
        for (uint k = 0; k < HITS_PER_ITEM; k++) {
            const uint h = base + k * WG + l;
            if (h < nhits) atomic_inc(&hist[(phi[h] + s * r[h]) >> shift]);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (q < qbins)
        for (uint i = l; i < nphi; i += WG) {
            const uint c = hist[i];
            if (c > 0) atomic_add(&acc[q * nphi + i], c);
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
