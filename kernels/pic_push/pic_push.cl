// Boris push, in `real` (float; double with -DHETBENCH_F64), of n particles
// in the fields of a Penning trap with a
// magnetic bottle (q/m folded into h = q/m dt/2):
//   E = k (x, y, -2z),  B = b0 (-bb x z, -bb y z, 1 + bb z^2)
//   v- = v + hE;  t = hB;  s = 2t / (1 + t.t)
//   v' = v- + v- x t;  v+ = v- + v' x s;  v = v+ + hE;  r = r + dt v
// State: one buffer of 6n floats, structure of arrays (x, y, z, vx, vy, vz,
// each n long), so a work-group's loads and stores are contiguous. A state
// over a device's largest binding comes in blocks, each its own structure
// of arrays: one dispatch per block binds that block (a sub-buffer), with n
// its length.
// Launch: p0 (in), p (out), tmp (out), n, h, dt, k, b0, bb; work-groups of
// 256, grid-stride over n. One dispatch per step; the kernel picks the
// source and destination (ping-pong), the last step always writes p.

#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
typedef double3 real3;
#else
typedef float real;
typedef float3 real3;
#endif

static inline void push(__global const real *restrict src, __global real *restrict dst,
                        const uint n, const real h, const real dt, const real k,
                        const real b0, const real bb) {
    for (uint i = get_global_id(0); i < n; i += get_global_size(0)) {
        const real3 r = (real3)(src[i], src[n + i], src[2 * n + i]);
        const real3 v = (real3)(src[3 * n + i], src[4 * n + i], src[5 * n + i]);
        const real3 he = h * (k * (real3)(r.x, r.y, (real)-2.0 * r.z));
        const real3 vm = v + he;
        const real c = b0 * bb;
        const real3 b = (real3)(-c * (r.x * r.z), -c * (r.y * r.z), b0 * fma((real)bb, r.z * r.z, (real)1.0));
        const real3 t = h * b;
        const real3 s = ((real)2.0 / ((real)1.0 + dot(t, t))) * t;
        const real3 vp = vm + cross(vm, t);
        const real3 vn = vm + cross(vp, s) + he;
        const real3 rn = r + dt * vn;
        dst[i] = rn.x;
        dst[n + i] = rn.y;
        dst[2 * n + i] = rn.z;
        dst[3 * n + i] = vn.x;
        dst[4 * n + i] = vn.y;
        dst[5 * n + i] = vn.z;
    }
}

#define ARGS __global const real *restrict p0, __global real *restrict p, \
             __global real *restrict tmp, const uint n, const float h, const float dt, \
             const float k, const float b0, const float bb

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void in_to_p(ARGS) {
    push(p0, p, n, h, dt, k, b0, bb);
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void in_to_tmp(ARGS) {
    push(p0, tmp, n, h, dt, k, b0, bb);
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void tmp_to_p(ARGS) {
    push(tmp, p, n, h, dt, k, b0, bb);
}

__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void p_to_tmp(ARGS) {
    push(p, tmp, n, h, dt, k, b0, bb);
}
