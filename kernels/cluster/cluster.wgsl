// Calorimeter cell clustering: connected components of the cells with
// |E| > cell_t * sigma (8 neighbours, phi wraps, eta does not), kept where
// they hold a seed (|E| > seed_t * sigma). labels[i] = the smallest cell
// index of i's cluster, or NONE. Cells are row-major: i = eta * nphi + phi.
// Union-find after Playne and Hawick (IEEE TPDS 2018): the larger root
// always goes under the smaller (atomicMin), so a root is the smallest index
// of its tree. Dispatches, every iteration, one work-item per cell:
//   init      parent[i] = i if the cell takes part, else NONE
//   merge     union with the neighbours before it (a decision tree skips
//             those already connected through another; every edge in the
//             first and last phi columns, where the wrap-around edges are)
//   compress  parent[i] = root; a seed sets FLAG on its root's entry
//   finalise  labels[i] = root if the root is flagged, else NONE
// Launch: energy, sigma (in), parent, labels (out), then Params;
// groups (ceil(nphi/16), ceil(neta/16)) of 16 x 16, for every dispatch.
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
@group(0) @binding(4) var<uniform> p: Params;

const NONE: u32 = 0xffffffffu;
const FLAG: u32 = 0x80000000u;
const MASK: u32 = 0x7fffffffu;

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

fn on(i: u32) -> bool {
    return atomicLoad(&parent[i]) != NONE;
}

@compute @workgroup_size(16, 16, 1)
fn init(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.nphi || gid.y >= p.neta) {
        return;
    }
    let i = gid.y * p.nphi + gid.x;
    let take = abs(energy[i]) > p.cell_t * sigma[i];
    atomicStore(&parent[i], select(NONE, i, take));
}

@compute @workgroup_size(16, 16, 1)
fn merge(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let r = gid.y;
    let w = p.nphi;
    if (c >= w || r >= p.neta) {
        return;
    }
    let i = r * w + c;
    if (!on(i)) {
        return;
    }
    let cl = select(c - 1u, w - 1u, c == 0u);
    let cr = select(c + 1u, 0u, c + 1u == w);
    let d = r * w + cl;
    if (r == 0u) {
        if (on(d)) {
            unite(i, d);
        }
        return;
    }
    let b = i - w;
    let a = b - c + cl;
    let e = b - c + cr;
    if (c == 0u || c + 1u == w) {
        if (on(d)) {
            unite(i, d);
        }
        if (on(a)) {
            unite(i, a);
        }
        if (on(b)) {
            unite(i, b);
        }
        if (on(e)) {
            unite(i, e);
        }
    } else if (on(b)) {
        unite(i, b);
    } else {
        if (on(e)) {
            unite(i, e);
        }
        if (on(a)) {
            unite(i, a);
        } else if (on(d)) {
            unite(i, d);
        }
    }
}

@compute @workgroup_size(16, 16, 1)
fn compress(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.nphi || gid.y >= p.neta) {
        return;
    }
    let i = gid.y * p.nphi + gid.x;
    if (!on(i)) {
        return;
    }
    let root = find(i);
    if (root != i) {
        atomicStore(&parent[i], root);
    }
    if (abs(energy[i]) > p.seed_t * sigma[i]) {
        atomicOr(&parent[root], FLAG);
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
        let root = v & MASK;
        if ((atomicLoad(&parent[root]) & FLAG) != 0u) {
            l = root;
        }
    }
    labels[i] = l;
}
