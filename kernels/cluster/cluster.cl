// Calorimeter cell clustering: connected components of the cells with
// |E| > cell_t * sigma (8 neighbours, phi wraps, eta does not), kept where
// they hold a seed (|E| > seed_t * sigma). labels[i] = the smallest cell
// index of i's cluster, or NONE. Cells are row-major: i = eta * nphi + phi.
// Union-find after Playne and Hawick (IEEE TPDS 2018): the larger root
// always goes under the smaller (atomic_min), so a root is the smallest
// index of its tree. Kernels, every iteration, one work-item per cell:
//   init      parent[i] = i if the cell takes part, else NONE
//   merge     union with the neighbours before it (a decision tree skips
//             those already connected through another; every edge in the
//             first and last phi columns, where the wrap-around edges are)
//   compress  parent[i] = root; a seed sets FLAG on its root's entry
//   finalise  labels[i] = root if the root is flagged, else NONE
// Launch: energy, sigma (in), parent, labels (out), neta, nphi, seed_t,
// cell_t; global (16*ceil(nphi/16), 16*ceil(neta/16)) in 16 x 16 groups.
#define NONE 0xffffffffu
#define FLAG 0x80000000u
#define MASK 0x7fffffffu
#define ARGS __global const float *restrict energy, __global const float *restrict sigma, \
    __global uint *parent_, __global uint *labels, \
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

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void init(ARGS) {
    const uint c = get_global_id(0), r = get_global_id(1);
    if (c >= nphi || r >= neta) return;
    const uint i = r * nphi + c;
    parent_[i] = fabs(energy[i]) > cell_t * sigma[i] ? i : NONE;
}

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void merge(ARGS) {
    volatile __global uint *parent = parent_;
    const uint c = get_global_id(0), r = get_global_id(1), w = nphi;
    if (c >= w || r >= neta) return;
    const uint i = r * w + c;
    if (parent[i] == NONE) return;
    const uint cl = c == 0 ? w - 1 : c - 1;
    const uint cr = c + 1 == w ? 0 : c + 1;
    const uint d = r * w + cl;
    if (r == 0) {
        if (parent[d] != NONE) unite(parent, i, d);
        return;
    }
    const uint b = i - w, a = b - c + cl, e = b - c + cr;
    if (c == 0 || c + 1 == w) {
        if (parent[d] != NONE) unite(parent, i, d);
        if (parent[a] != NONE) unite(parent, i, a);
        if (parent[b] != NONE) unite(parent, i, b);
        if (parent[e] != NONE) unite(parent, i, e);
    } else if (parent[b] != NONE) {
        unite(parent, i, b);
    } else {
        if (parent[e] != NONE) unite(parent, i, e);
        if (parent[a] != NONE) unite(parent, i, a);
        else if (parent[d] != NONE) unite(parent, i, d);
    }
}

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void compress(ARGS) {
    volatile __global uint *parent = parent_;
    const uint c = get_global_id(0), r = get_global_id(1);
    if (c >= nphi || r >= neta) return;
    const uint i = r * nphi + c;
    if (parent[i] == NONE) return;
    const uint root = find(parent, i);
    if (root != i) parent[i] = root;
    if (fabs(energy[i]) > seed_t * sigma[i]) atomic_or(&parent[root], FLAG);
}

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void finalise(ARGS) {
    volatile __global uint *parent = parent_;
    const uint c = get_global_id(0), r = get_global_id(1);
    if (c >= nphi || r >= neta) return;
    const uint i = r * nphi + c;
    const uint v = parent[i];
    uint l = NONE;
    if (v != NONE && (parent[v & MASK] & FLAG)) l = v & MASK;
    labels[i] = l;
}
