// 7-point Jacobi heat step, in `real` (float; double with -DHETBENCH_F64),
// with fixed boundary:
//   v' = c0 * v + c1 * ((x- + x+) + (y- + y+) + (z- + z+)) inside,
//   v' = v on the six faces.
// One work-item per (x, y) column and chunk of `zchunk` planes, marching in
// z with the planes below, at and above in registers; x is the fastest
// dimension, so a work-group's loads and stores are contiguous.
// Launch: u0 (in), u (out), tmp (out), nx, ny, nz, zchunk, c0, c1;
// work-groups of 64 x 4 x 1, global (64*ceil(nx/64), 4*ceil(ny/4),
// ceil(nz/zchunk)). The kernel picks the source and destination of the step
// (ping-pong); the last step of an invocation always writes u.

#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

static inline void step(__global const real *restrict src, __global real *restrict dst,
                        const uint nx, const uint ny, const uint nz, const uint zchunk,
                        const real c0, const real c1) {
    const uint x = get_global_id(0), y = get_global_id(1);
    if (x >= nx || y >= ny) return;
    const uint z0 = get_global_id(2) * zchunk;
    const uint z1 = min(z0 + zchunk, nz);
    if (z0 >= z1) return;
    const uint plane = nx * ny;
    uint i = (z0 * ny + y) * nx + x;
    if (x == 0 || y == 0 || x == nx - 1 || y == ny - 1) {
        for (uint z = z0; z < z1; z++, i += plane) dst[i] = src[i];
        return;
    }
    real below = z0 > 0 ? src[i - plane] : (real)0;
    real centre = src[i];
    for (uint z = z0; z < z1; z++, i += plane) {
        const real above = z + 1 < nz ? src[i + plane] : (real)0;
        real v = centre;
        if (z != 0 && z != nz - 1) {
            const real s = ((src[i - 1] + src[i + 1]) + (src[i - nx] + src[i + nx])) + (below + above);
            v = fma(c0, centre, c1 * s);
        }
        dst[i] = v;
        below = centre;
        centre = above;
    }
}

#define ARGS __global const real *restrict u0, __global real *restrict u, \
             __global real *restrict tmp, const uint nx, const uint ny, const uint nz, \
             const uint zchunk, const float c0, const float c1

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_u(ARGS) {
    step(u0, u, nx, ny, nz, zchunk, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_tmp(ARGS) {
    step(u0, tmp, nx, ny, nz, zchunk, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void tmp_to_u(ARGS) {
    step(tmp, u, nx, ny, nz, zchunk, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void u_to_tmp(ARGS) {
    step(u, tmp, nx, ny, nz, zchunk, c0, c1);
}
