// 7-point Jacobi heat step, in `real` (f32, or f64 in the f64 variant), with
// fixed boundary:
//   v' = c0 * v + c1 * ((x- + x+) + (y- + y+) + (z- + z+)) inside,
//   v' = v on the six faces.
// One invocation per (x, y) column and chunk of `zchunk` planes, marching in
// z with the planes below and above in registers and the plane itself in a
// workgroup tile with halo (2.5-D blocking): each point is read from global
// memory once per step, its four in-plane neighbours from the tile; x is
// the fastest dimension, so a workgroup's loads and stores are contiguous.
// A dispatch steps planes zlo..zhi; where the grid is larger than a device
// binds at once, one dispatch per slab of planes binds a window of each
// buffer, whose first element is element o0, o1, o2 of u0, u, tmp (0 when
// bound whole).
// Launch: u0 (in), u (out), tmp (out), then Params; workgroups of 64 x 4 x 1,
// groups (ceil(nx/64), ceil(ny/4), ceil((zhi-zlo)/zchunk)). The entry point picks
// the source and destination of the step (ping-pong); the last step of an
// invocation always writes u.
alias real = f32;

struct Params {
    nx: u32,
    ny: u32,
    nz: u32,
    zchunk: u32,
    zlo: u32,
    zhi: u32,
    o0: u32,
    o1: u32,
    o2: u32,
    c0: f32,
    c1: f32,
}

@group(0) @binding(0) var<storage, read> u0: array<real>;
@group(0) @binding(1) var<storage, read_write> u: array<real>;
@group(0) @binding(2) var<storage, read_write> tmp: array<real>;
@group(0) @binding(3) var<uniform> p: Params;

// sel: 0 = u0, 1 = u, 2 = tmp. Constant at every call site, so the branch
// folds away when the step is inlined.
fn ld(sel: u32, i: u32) -> real {
    if (sel == 0u) {
        return u0[i - p.o0];
    }
    if (sel == 1u) {
        return u[i - p.o1];
    }
    return tmp[i - p.o2];
}

fn st(sel: u32, i: u32, v: real) {
    if (sel == 1u) {
        u[i - p.o1] = v;
    } else {
        tmp[i - p.o2] = v;
    }
}

// The workgroup's tile of one plane with a halo of one point on each side
// (66 x 6), twice: plane z uses half z & 1, so one barrier per plane
// suffices (a half is written again only after every invocation has passed
// the barrier that follows its last read).
const TX: u32 = 64u;
const TY: u32 = 4u;
const SW: u32 = 66u;
const HALF: u32 = 396u;
var<workgroup> tile: array<real, 792>;

fn step(src: u32, dst: u32, wid: vec3<u32>, lid: vec3<u32>) {
    let nx = p.nx;
    let ny = p.ny;
    let nz = p.nz;
    let x = wid.x * TX + lid.x;
    let y = wid.y * TY + lid.y;
    // The same for the whole workgroup: every invocation takes every
    // barrier, those outside the grid included.
    let z0 = p.zlo + wid.z * p.zchunk;
    let z1 = min(z0 + p.zchunk, p.zhi);
    let inside = x < nx && y < ny;
    let edge = x == 0u || y == 0u || x == nx - 1u || y == ny - 1u;
    let plane = nx * ny;
    // This invocation's cell in the tile, and the halo it loads: the
    // column beside it where it is at the tile's edge and that column is
    // in the grid (only interior points read neighbours, and theirs are).
    let l = (lid.y + 1u) * SW + lid.x + 1u;
    let west = inside && lid.x == 0u && x > 0u;
    let east = inside && lid.x == TX - 1u && x + 1u < nx;
    let north = inside && lid.y == 0u && y > 0u;
    let south = inside && lid.y == TY - 1u && y + 1u < ny;
    var i = (z0 * ny + y) * nx + x;
    var below: real = 0.0;
    var centre: real = 0.0;
    if (inside && z0 < z1) {
        if (z0 > 0u) {
            below = ld(src, i - plane);
        }
        centre = ld(src, i);
    }
    for (var z = z0; z < z1; z++) {
        let t = ((z - z0) & 1u) * HALF + l;
        var above: real = 0.0;
        if (inside) {
            if (z + 1u < nz) {
                above = ld(src, i + plane);
            }
            tile[t] = centre;
            if (west) {
                tile[t - 1u] = ld(src, i - 1u);
            }
            if (east) {
                tile[t + 1u] = ld(src, i + 1u);
            }
            if (north) {
                tile[t - SW] = ld(src, i - nx);
            }
            if (south) {
                tile[t + SW] = ld(src, i + nx);
            }
        }
        workgroupBarrier();
        if (inside) {
            var v = centre;
            if (!edge && z != 0u && z != nz - 1u) {
                let s = ((tile[t - 1u] + tile[t + 1u]) + (tile[t - SW] + tile[t + SW]))
                    + (below + above);
                v = fma(real(p.c0), centre, real(p.c1) * s);
            }
            st(dst, i, v);
        }
        below = centre;
        centre = above;
        i += plane;
    }
}

@compute @workgroup_size(64, 4, 1)
fn in_to_u(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    step(0u, 1u, wid, lid);
}

@compute @workgroup_size(64, 4, 1)
fn in_to_tmp(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    step(0u, 2u, wid, lid);
}

@compute @workgroup_size(64, 4, 1)
fn tmp_to_u(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    step(2u, 1u, wid, lid);
}

@compute @workgroup_size(64, 4, 1)
fn u_to_tmp(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    step(1u, 2u, wid, lid);
}
