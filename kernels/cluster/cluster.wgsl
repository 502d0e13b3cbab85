// Calorimeter cell clustering: connected components of the cells with
// |E| > cell_t * sigma (8 neighbours, phi wraps, eta does not), kept where
// they hold a seed (|E| > seed_t * sigma). labels[i] = the smallest cell
// index of i's cluster, or NONE. Cells are row-major: i = eta * nphi + phi.
// Union-find after Playne and Hawick (IEEE TPDS 2018), inside 16 x 16 tiles
// first (block-based, as Allegretti et al.): the larger root always goes
// under the smaller (atomicMin), so a root is the smallest index of its
// tree, in a tile and in the grid. Dispatches, every iteration:
//   label_tiles    one workgroup per tile, one work-item per cell: the
//                  thresholds, union-find of the tile's own edges (no
//                  wrap) in workgroup memory (Wu's decision tree), parent[i]
//                  = the global index of the cell's tile root or NONE; the
//                  tile's summary: on-bits of its border rows and columns,
//                  and a bit per tile root whose tile component has a seed
//   merge_borders  16 work-items per tile, four tiles per workgroup: the
//                  edges that cross into the tiles before it or wrap in
//                  phi, found from the summaries, united with global
//                  atomicMin; an edge is skipped where its ends are joined
//                  inside a tile already
//   flag_seeds     the same geometry: each seeded tile root sets FLAG on
//                  its final root (atomicOr)
//   finalise       one work-item per cell: labels[i] = root if flagged,
//                  else NONE (the find is the compression; parent keeps
//                  the tile roots)
// Launch: energy, sigma (in), parent, labels, tiles (out; tiles: 16 words per
// tile: 0 rows 0 and 15, 1 first and last columns, 8..15 seeded tile roots),
// then Params; groups (ceil(nphi/16), ceil(neta/16)) of 16 x 16 for
// label_tiles and finalise, (ceil(nphi/64), ceil(neta/16)) of 16 x 4 for
// merge_borders and flag_seeds.
struct Params {
    neta: u32,
    nphi: u32,
    seed_t: f32,
    cell_t: f32,
}

@group(0) @binding(0) var<storage, read> energy: array<f32>;
@group(0) @binding(1) var<storage, read> sigma: array<f32>;
@group(0) @binding(2) var<storage, read_write> parent: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> tiles: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

const NONE: u32 = 0xffffffffu;
const FLAG: u32 = 0x80000000u;
const MASK: u32 = 0x7fffffffu;
// Tile side, and the summary words per tile.
const T: u32 = 16u;
const STRIDE: u32 = 16u;

// The tile's parent entries (local indices y * 16 + x) and its summary
// (0, 1: border bits; 2..9: seeded roots, stored at words 8..15).
var<workgroup> lp: array<atomic<u32>, 256>;
var<workgroup> lsum: array<atomic<u32>, 10>;

fn tiles_x() -> u32 {
    return (p.nphi + T - 1u) / T;
}

fn find(i: u32) -> u32 {
    var x = i;
    loop {
        let q = atomicLoad(&parent[x]) & MASK;
        if (q == x) {
            break;
        }
        x = q;
    }
    return x;
}

// Lock-free union: hang the larger root under the smaller with atomicMin.
// If the larger was no longer a root (another work-item linked it first),
// atomicMin returns its new parent and the union retries from there.
fn unite(a0: u32, b0: u32) {
    var a = a0;
    var b = b0;
    loop {
        a = find(a);
        b = find(b);
        if (a == b) {
            break;
        }
        if (a < b) {
            let t = a;
            a = b;
            b = t;
        }
        let old = atomicMin(&parent[a], b);
        if (old == a) {
            break;
        }
        a = old;
    }
}

// The same in workgroup memory, on local indices.
fn lfind(i: u32) -> u32 {
    var x = i;
    loop {
        let q = atomicLoad(&lp[x]);
        if (q == x) {
            break;
        }
        x = q;
    }
    return x;
}

fn lunite(a0: u32, b0: u32) {
    var a = a0;
    var b = b0;
    loop {
        a = lfind(a);
        b = lfind(b);
        if (a == b) {
            break;
        }
        if (a < b) {
            let t = a;
            a = b;
            b = t;
        }
        let old = atomicMin(&lp[a], b);
        if (old == a) {
            break;
        }
        a = old;
    }
}

fn lon(l: u32) -> bool {
    return atomicLoad(&lp[l]) != NONE;
}

@compute @workgroup_size(16, 16, 1)
fn label_tiles(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let x = lid.x;
    let y = lid.y;
    let l = y * T + x;
    let c = wid.x * T + x;
    let r = wid.y * T + y;
    let inside = c < p.nphi && r < p.neta;
    let i = r * p.nphi + c;
    var take = false;
    var seed = false;
    if (inside) {
        let e = abs(energy[i]);
        let s = sigma[i];
        take = e > p.cell_t * s;
        seed = e > p.seed_t * s;
    }
    atomicStore(&lp[l], select(NONE, l, take));
    if (l < 10u) {
        atomicStore(&lsum[l], 0u);
    }
    workgroupBarrier();
    // Wu, Otoo and Suzuki's decision tree over the tile alone (cells
    // outside it count as off): exact connectivity of the tile's edges.
    if (take) {
        let up = y > 0u;
        let left = x > 0u;
        if (up && lon(l - T)) {
            lunite(l, l - T);
        } else {
            if (up && x + 1u < T && lon(l - T + 1u)) {
                lunite(l, l - T + 1u);
            }
            if (up && left && lon(l - T - 1u)) {
                lunite(l, l - T - 1u);
            } else if (left && lon(l - 1u)) {
                lunite(l, l - 1u);
            }
        }
    }
    workgroupBarrier();
    var g = NONE;
    if (take) {
        let root = lfind(l);
        g = (wid.y * T + root / T) * p.nphi + wid.x * T + root % T;
        if (seed) {
            atomicOr(&lsum[2u + root / 32u], 1u << (root % 32u));
        }
        let last = min(T, p.nphi - wid.x * T) - 1u;
        if (y == 0u) {
            atomicOr(&lsum[0], 1u << x);
        }
        if (y == T - 1u) {
            atomicOr(&lsum[0], 1u << (16u + x));
        }
        if (x == 0u) {
            atomicOr(&lsum[1], 1u << y);
        }
        if (x == last) {
            atomicOr(&lsum[1], 1u << (16u + y));
        }
    }
    if (inside) {
        atomicStore(&parent[i], g);
    }
    workgroupBarrier();
    if (l < 10u) {
        let t = wid.y * tiles_x() + wid.x;
        tiles[t * STRIDE + select(l, l + 6u, l >= 2u)] = atomicLoad(&lsum[l]);
    }
}

// Bit `b` of summary word `word` of the tile holding cell (r, c).
fn sbit(r: u32, c: u32, word: u32, b: u32) -> bool {
    let t = (r / T) * tiles_x() + c / T;
    return ((tiles[t * STRIDE + word] >> b) & 1u) != 0u;
}

// The edges of the tile at (r0, c0), tw x th cells, that cross into the
// tiles before it or wrap in phi. The ends of a skipped edge are neighbours
// in one tile, so label_tiles joined them. Top row, cell k: up and, in the
// first column, left.
fn merge_top(r0: u32, c0: u32, tw: u32, k: u32) {
    let w = p.nphi;
    let c = c0 + k;
    let i = r0 * w + c;
    if (!sbit(r0, c, 0u, k)) {
        return;
    }
    let cl = select(c - 1u, w - 1u, c == 0u);
    let cr = select(c + 1u, 0u, c + 1u == w);
    if (k == 0u && sbit(r0, cl, 0u, cl % T)) {
        unite(i, r0 * w + cl);
    }
    if (r0 == 0u) {
        return;
    }
    let u = r0 - 1u;
    let b = sbit(u, c, 0u, 16u + k);
    if (b) {
        unite(i, i - w);
    }
    if ((!b || k == 0u) && sbit(u, cl, 0u, 16u + cl % T)) {
        unite(i, u * w + cl);
    }
    if ((!b || k + 1u == tw) && sbit(u, cr, 0u, 16u + cr % T)) {
        unite(i, u * w + cr);
    }
}

// First column, row y > 0: left, up-left (in the last column of their tile).
fn merge_first(r0: u32, c0: u32, y: u32) {
    let w = p.nphi;
    let r = r0 + y;
    if (!sbit(r, c0, 1u, y)) {
        return;
    }
    let cl = select(c0 - 1u, w - 1u, c0 == 0u);
    let i = r * w + c0;
    if (sbit(r, cl, 1u, 16u + y)) {
        unite(i, r * w + cl);
    } else if (sbit(r - 1u, cl, 1u, 15u + y)) {
        unite(i, (r - 1u) * w + cl);
    }
}

// Last column, row y > 0: up-right (in the first column of its tile).
fn merge_last(r0: u32, c0: u32, tw: u32, y: u32) {
    let w = p.nphi;
    let r = r0 + y;
    let c = c0 + tw - 1u;
    if (!sbit(r, c, 1u, 16u + y)) {
        return;
    }
    let cr = select(c + 1u, 0u, c + 1u == w);
    if (sbit(r - 1u, cr, 1u, y - 1u)) {
        unite(r * w + c, (r - 1u) * w + cr);
    }
}

// Four tiles per workgroup, 16 work-items each (few threads per tile, so
// that many tiles' dependent loads are in flight): work-item j takes cell j
// of the top row and row j of the first and last columns.
@compute @workgroup_size(16, 4, 1)
fn merge_borders(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let tx = wid.x * 4u + lid.y;
    if (tx >= tiles_x()) {
        return;
    }
    let j = lid.x;
    let c0 = tx * T;
    let r0 = wid.y * T;
    let tw = min(T, p.nphi - c0);
    let th = min(T, p.neta - r0);
    if (j < tw) {
        merge_top(r0, c0, tw, j);
    }
    if (j > 0u && j < th) {
        merge_first(r0, c0, j);
        merge_last(r0, c0, tw, j);
    }
}

// Four tiles per workgroup as merge_borders; work-item j takes row j of its
// tile's seeded roots.
@compute @workgroup_size(16, 4, 1)
fn flag_seeds(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let tx = wid.x * 4u + lid.y;
    if (tx >= tiles_x()) {
        return;
    }
    let j = lid.x;
    let t = wid.y * tiles_x() + tx;
    let bits = (tiles[t * STRIDE + 8u + j / 2u] >> (16u * (j % 2u))) & 0xffffu;
    if (bits == 0u) {
        return;
    }
    for (var x = 0u; x < T; x++) {
        if (((bits >> x) & 1u) != 0u) {
            let g = (wid.y * T + j) * p.nphi + tx * T + x;
            atomicOr(&parent[find(g)], FLAG);
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn finalise(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.nphi || gid.y >= p.neta) {
        return;
    }
    let i = gid.y * p.nphi + gid.x;
    let v = atomicLoad(&parent[i]);
    var l = NONE;
    if (v != NONE) {
        let root = find(v & MASK);
        if ((atomicLoad(&parent[root]) & FLAG) != 0u) {
            l = root;
        }
    }
    labels[i] = l;
}
