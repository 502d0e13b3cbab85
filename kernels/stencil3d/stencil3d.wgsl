// 7-point Jacobi heat step, in `real` (f32, or f64 in the f64 variant), with
// fixed boundary:
//   v' = c0 * v + c1 * ((x- + x+) + (y- + y+) + (z- + z+)) inside,
//   v' = v on the six faces.
// One invocation per (x, y) column and chunk of `zchunk` planes, marching in
// z with the planes below, at and above in registers; x is the fastest
// dimension, so a workgroup's loads and stores are contiguous.
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

fn step(src: u32, dst: u32, gid: vec3<u32>) {
    let x = gid.x;
    let y = gid.y;
    if (x >= p.nx || y >= p.ny) {
        return;
    }
    let z0 = p.zlo + gid.z * p.zchunk;
    let z1 = min(z0 + p.zchunk, p.zhi);
    if (z0 >= z1) {
        return;
    }
    let nx = p.nx;
    let plane = nx * p.ny;
    var i = (z0 * p.ny + y) * nx + x;
    if (x == 0u || y == 0u || x == nx - 1u || y == p.ny - 1u) {
        for (var z = z0; z < z1; z++) {
            st(dst, i, ld(src, i));
            i += plane;
        }
        return;
    }
    var below: real = 0.0;
    if (z0 > 0u) {
        below = ld(src, i - plane);
    }
    var centre = ld(src, i);
    for (var z = z0; z < z1; z++) {
        var above: real = 0.0;
        if (z + 1u < p.nz) {
            above = ld(src, i + plane);
        }
        var v = centre;
        if (z != 0u && z != p.nz - 1u) {
            let s = ((ld(src, i - 1u) + ld(src, i + 1u)) + (ld(src, i - nx) + ld(src, i + nx)))
                + (below + above);
            v = fma(real(p.c0), centre, real(p.c1) * s);
        }
        st(dst, i, v);
        below = centre;
        centre = above;
        i += plane;
    }
}

@compute @workgroup_size(64, 4, 1)
fn in_to_u(@builtin(global_invocation_id) gid: vec3<u32>) {
    step(0u, 1u, gid);
}

@compute @workgroup_size(64, 4, 1)
fn in_to_tmp(@builtin(global_invocation_id) gid: vec3<u32>) {
    step(0u, 2u, gid);
}

@compute @workgroup_size(64, 4, 1)
fn tmp_to_u(@builtin(global_invocation_id) gid: vec3<u32>) {
    step(2u, 1u, gid);
}

@compute @workgroup_size(64, 4, 1)
fn u_to_tmp(@builtin(global_invocation_id) gid: vec3<u32>) {
    step(1u, 2u, gid);
}
