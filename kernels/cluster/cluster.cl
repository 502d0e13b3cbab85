// Calorimeter cell clustering: connected components of the cells with
// |E| > cell_t * sigma (8 neighbours, phi wraps, eta does not), kept where
// they hold a seed (|E| > seed_t * sigma). labels[i] = the smallest cell
// index of i's cluster, or NONE. Cells are row-major: i = eta * nphi + phi.
// Union-find after Playne and Hawick (IEEE TPDS 2018), inside 16 x 16 tiles
// first (block-based, as Allegretti et al.): the larger root always goes
// under the smaller (atomic_min), so a root is the smallest index of its
// tree, in a tile and in the grid. Kernels, every iteration:
//   label_tiles    one work-group per tile, one work-item per cell: the
//                  thresholds, union-find of the tile's own edges (no
//                  wrap) in local memory (Wu's decision tree), parent[i] =
//                  the global index of the cell's tile root or NONE; the
//                  tile's summary: on-bits of its border rows and columns,
//                  and a bit per tile root whose tile component has a seed
//   merge_borders  16 work-items per tile, four tiles per work-group: the
//                  edges that cross into the tiles before it or wrap in
//                  phi, found from the summaries, united with global
//                  atomic_min; an edge is skipped where its ends are joined
//                  inside a tile already
//   flag_seeds     the same geometry: each seeded tile root sets FLAG on
//                  its final root (atomic_or)
//   finalise       one work-item per cell: labels[i] = root if flagged,
//                  else NONE (the find is the compression; parent keeps
//                  the tile roots)
// Launch: energy, sigma (in), parent, labels, tiles (out; tiles: 16 words per
// tile: 0 rows 0 and 15, 1 first and last columns, 8..15 seeded tile roots),
// neta, nphi, seed_t, cell_t; groups (ceil(nphi/16), ceil(neta/16)) of
// 16 x 16 for label_tiles and finalise, (ceil(nphi/64), ceil(neta/16)) of
// 16 x 4 for merge_borders and flag_seeds.
#define NONE 0xffffffffu
#define FLAG 0x80000000u
#define MASK 0x7fffffffu
#define T 16u
#define STRIDE 16u
#define ARGS __global const float *restrict energy, __global const float *restrict sigma, \
    __global uint *parent_, __global uint *labels, __global uint *tiles, \
    const uint neta, const uint nphi, const float seed_t, const float cell_t

static uint find(volatile __global uint *parent, uint x) {
    for (;;) {
        const uint q = parent[x] & MASK;
        if (q == x) return x;
        x = q;
    }
}

// Lock-free union: hang the larger root under the smaller with atomic_min.
// If the larger was no longer a root (another work-item linked it first),
// atomic_min returns its new parent and the union retries from there.
static void unite(volatile __global uint *parent, uint a, uint b) {
    for (;;) {
        a = find(parent, a);
        b = find(parent, b);
        if (a == b) return;
        if (a < b) { const uint t = a; a = b; b = t; }
        const uint old = atomic_min(&parent[a], b);
        if (old == a) return;
        a = old;
    }
}

// The same in local memory, on local indices.
static uint lfind(volatile __local uint *lp, uint x) {
    for (;;) {
        const uint q = lp[x];
        if (q == x) return x;
        x = q;
    }
}

static void lunite(volatile __local uint *lp, uint a, uint b) {
    for (;;) {
        a = lfind(lp, a);
        b = lfind(lp, b);
        if (a == b) return;
        if (a < b) { const uint t = a; a = b; b = t; }
        const uint old = atomic_min(&lp[a], b);
        if (old == a) return;
        a = old;
    }
}

static uint tiles_x(uint nphi) { return (nphi + T - 1) / T; }

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void label_tiles(ARGS) {
    // The tile's parent entries (local indices y * 16 + x) and its summary
    // (0, 1: border bits; 2..9: seeded roots, stored at words 8..15).
    __local uint lp_[256];
    __local uint lsum[10];
    volatile __local uint *lp = lp_;
    const uint x = get_local_id(0), y = get_local_id(1), l = y * T + x;
    const uint tx = get_group_id(0), ty = get_group_id(1);
    const uint c = tx * T + x, r = ty * T + y;
    const bool inside = c < nphi && r < neta;
    const uint i = r * nphi + c;
    bool take = false, seed = false;
    if (inside) {
        const float e = fabs(energy[i]), s = sigma[i];
        take = e > cell_t * s;
        seed = e > seed_t * s;
    }
    lp[l] = take ? l : NONE;
    if (l < 10) lsum[l] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    // Wu, Otoo and Suzuki's decision tree over the tile alone (cells
    // outside it count as off): exact connectivity of the tile's edges.
    if (take) {
        const bool up = y > 0, left = x > 0;
        if (up && lp[l - T] != NONE) {
            lunite(lp, l, l - T);
        } else {
            if (up && x + 1 < T && lp[l - T + 1] != NONE) lunite(lp, l, l - T + 1);
            if (up && left && lp[l - T - 1] != NONE) lunite(lp, l, l - T - 1);
            else if (left && lp[l - 1] != NONE) lunite(lp, l, l - 1);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    uint g = NONE;
    if (take) {
        const uint root = lfind(lp, l);
        g = (ty * T + root / T) * nphi + tx * T + root % T;
        if (seed) atomic_or(&lsum[2 + root / 32], 1u << (root % 32));
        const uint last = min(T, nphi - tx * T) - 1;
        if (y == 0) atomic_or(&lsum[0], 1u << x);
        if (y == T - 1) atomic_or(&lsum[0], 1u << (16 + x));
        if (x == 0) atomic_or(&lsum[1], 1u << y);
        if (x == last) atomic_or(&lsum[1], 1u << (16 + y));
    }
    if (inside) parent_[i] = g;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (l < 10) tiles[(ty * tiles_x(nphi) + tx) * STRIDE + (l >= 2 ? l + 6 : l)] = lsum[l];
}

// Bit `b` of summary word `word` of the tile holding cell (r, c).
static bool sbit(__global const uint *tiles, uint nphi, uint r, uint c, uint word, uint b) {
    const uint t = (r / T) * tiles_x(nphi) + c / T;
    return (tiles[t * STRIDE + word] >> b) & 1u;
}

// The edges of the tile at (r0, c0), tw x th cells, that cross into the
// tiles before it or wrap in phi. The ends of a skipped edge are neighbours
// in one tile, so label_tiles joined them. Top row, cell k: up and, in the
// first column, left.
static void merge_top(volatile __global uint *parent, __global const uint *tiles, uint w,
                      uint r0, uint c0, uint tw, uint k) {
    const uint c = c0 + k, i = r0 * w + c;
    if (!sbit(tiles, w, r0, c, 0, k)) return;
    const uint cl = c == 0 ? w - 1 : c - 1;
    const uint cr = c + 1 == w ? 0 : c + 1;
    if (k == 0 && sbit(tiles, w, r0, cl, 0, cl % T)) unite(parent, i, r0 * w + cl);
    if (r0 == 0) return;
    const uint u = r0 - 1;
    const bool b = sbit(tiles, w, u, c, 0, 16 + k);
    if (b) unite(parent, i, i - w);
    if ((!b || k == 0) && sbit(tiles, w, u, cl, 0, 16 + cl % T)) unite(parent, i, u * w + cl);
    if ((!b || k + 1 == tw) && sbit(tiles, w, u, cr, 0, 16 + cr % T)) unite(parent, i, u * w + cr);
}

// First column, row y > 0: left, up-left (in the last column of their tile).
static void merge_first(volatile __global uint *parent, __global const uint *tiles, uint w,
                        uint r0, uint c0, uint y) {
    const uint r = r0 + y;
    if (!sbit(tiles, w, r, c0, 1, y)) return;
    const uint cl = c0 == 0 ? w - 1 : c0 - 1, i = r * w + c0;
    if (sbit(tiles, w, r, cl, 1, 16 + y)) unite(parent, i, r * w + cl);
    else if (sbit(tiles, w, r - 1, cl, 1, 15 + y)) unite(parent, i, (r - 1) * w + cl);
}

// Last column, row y > 0: up-right (in the first column of its tile).
static void merge_last(volatile __global uint *parent, __global const uint *tiles, uint w,
                       uint r0, uint c0, uint tw, uint y) {
    const uint r = r0 + y, c = c0 + tw - 1;
    if (!sbit(tiles, w, r, c, 1, 16 + y)) return;
    const uint cr = c + 1 == w ? 0 : c + 1;
    if (sbit(tiles, w, r - 1, cr, 1, y - 1)) unite(parent, r * w + c, (r - 1) * w + cr);
}

// Four tiles per work-group, 16 work-items each (few threads per tile, so
// that many tiles' dependent loads are in flight): work-item j takes cell j
// of the top row and row j of the first and last columns.
__kernel __attribute__((reqd_work_group_size(16, 4, 1)))
void merge_borders(ARGS) {
    volatile __global uint *parent = parent_;
    const uint tx = get_group_id(0) * 4 + get_local_id(1);
    if (tx >= tiles_x(nphi)) return;
    const uint j = get_local_id(0), c0 = tx * T, r0 = get_group_id(1) * T;
    const uint tw = min(T, nphi - c0), th = min(T, neta - r0);
    if (j < tw) merge_top(parent, tiles, nphi, r0, c0, tw, j);
    if (j > 0 && j < th) {
        merge_first(parent, tiles, nphi, r0, c0, j);
        merge_last(parent, tiles, nphi, r0, c0, tw, j);
    }
}

// Four tiles per work-group as merge_borders; work-item j takes row j of
// its tile's seeded roots.
__kernel __attribute__((reqd_work_group_size(16, 4, 1)))
void flag_seeds(ARGS) {
    volatile __global uint *parent = parent_;
    const uint tx = get_group_id(0) * 4 + get_local_id(1), ty = get_group_id(1);
    if (tx >= tiles_x(nphi)) return;
    const uint j = get_local_id(0), t = ty * tiles_x(nphi) + tx;
    const uint bits = (tiles[t * STRIDE + 8 + j / 2] >> (16 * (j % 2))) & 0xffffu;
    if (bits == 0) return;
    for (uint x = 0; x < T; x++) {
        if ((bits >> x) & 1u) {
            const uint g = (ty * T + j) * nphi + tx * T + x;
            atomic_or(&parent[find(parent, g)], FLAG);
        }
    }
}

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void finalise(ARGS) {
    volatile __global uint *parent = parent_;
    const uint c = get_global_id(0), r = get_global_id(1);
    if (c >= nphi || r >= neta) return;
    const uint i = r * nphi + c;
    const uint v = parent[i];
    uint l = NONE;
    if (v != NONE) {
        const uint root = find(parent, v & MASK);
        if (parent[root] & FLAG) l = root;
    }
    labels[i] = l;
}
