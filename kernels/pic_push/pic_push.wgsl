// Boris push, in `real` (f32, or f64 in the f64 variant), of n particles in
// the fields of a Penning trap with a
// magnetic bottle (q/m folded into h = q/m dt/2):
//   E = k (x, y, -2z),  B = b0 (-bb x z, -bb y z, 1 + bb z^2)
//   v- = v + hE;  t = hB;  s = 2t / (1 + t.t)
//   v' = v- + v- x t;  v+ = v- + v' x s;  v = v+ + hE;  r = r + dt v
// State: one buffer of 6n floats, structure of arrays (x, y, z, vx, vy, vz,
// each n long), so a workgroup's loads and stores are contiguous. A state
// over a device's largest binding comes in blocks, each its own structure
// of arrays: one dispatch per block binds that block, with n its length.
// Launch: p0 (in), p (out), tmp (out), then Params; workgroups of 256,
// grid-stride over n. One dispatch per step; the entry point picks the
// source and destination (ping-pong), the last step always writes p.
alias real = f32;

struct Params {
    n: u32,
    h: f32,
    dt: f32,
    k: f32,
    b0: f32,
    bb: f32,
}

@group(0) @binding(0) var<storage, read> p0: array<real>;
@group(0) @binding(1) var<storage, read_write> p: array<real>;
@group(0) @binding(2) var<storage, read_write> tmp: array<real>;
@group(0) @binding(3) var<uniform> prm: Params;

// sel: 0 = p0, 1 = p, 2 = tmp; constant at every call site.
fn ld(sel: u32, i: u32) -> real {
    if (sel == 0u) {
        return p0[i];
    }
    if (sel == 1u) {
        return p[i];
    }
    return tmp[i];
}

fn st(sel: u32, i: u32, v: real) {
    if (sel == 1u) {
        p[i] = v;
    } else {
        tmp[i] = v;
    }
}

fn push(src: u32, dst: u32, gid: u32, groups: u32) {
    let n = prm.n;
    let h = real(prm.h);
    for (var i = gid; i < n; i += groups * 256u) {
        let r = vec3<real>(ld(src, i), ld(src, n + i), ld(src, 2u * n + i));
        let v = vec3<real>(ld(src, 3u * n + i), ld(src, 4u * n + i), ld(src, 5u * n + i));
        let he = h * (real(prm.k) * vec3<real>(r.x, r.y, -2.0 * r.z));
        let vm = v + he;
        let c = real(prm.b0) * real(prm.bb);
        let b = vec3<real>(-c * (r.x * r.z), -c * (r.y * r.z), real(prm.b0) * fma(real(prm.bb), r.z * r.z, 1.0));
        let t = h * b;
        let s = (2.0 / (1.0 + dot(t, t))) * t;
        let vp = vm + cross(vm, t);
        let vn = vm + cross(vp, s) + he;
        let rn = r + real(prm.dt) * vn;
        st(dst, i, rn.x);
        st(dst, n + i, rn.y);
        st(dst, 2u * n + i, rn.z);
        st(dst, 3u * n + i, vn.x);
        st(dst, 4u * n + i, vn.y);
        st(dst, 5u * n + i, vn.z);
    }
}

@compute @workgroup_size(256, 1, 1)
fn in_to_p(@builtin(global_invocation_id) gid: vec3<u32>,
           @builtin(num_workgroups) ng: vec3<u32>) {
    push(0u, 1u, gid.x, ng.x);
}

@compute @workgroup_size(256, 1, 1)
fn in_to_tmp(@builtin(global_invocation_id) gid: vec3<u32>,
             @builtin(num_workgroups) ng: vec3<u32>) {
    push(0u, 2u, gid.x, ng.x);
}

@compute @workgroup_size(256, 1, 1)
fn tmp_to_p(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) ng: vec3<u32>) {
    push(2u, 1u, gid.x, ng.x);
}

@compute @workgroup_size(256, 1, 1)
fn p_to_tmp(@builtin(global_invocation_id) gid: vec3<u32>,
            @builtin(num_workgroups) ng: vec3<u32>) {
    push(1u, 2u, gid.x, ng.x);
}
