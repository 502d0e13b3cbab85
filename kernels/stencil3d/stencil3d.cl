// 7-point Jacobi heat step, in `real` (float; double with -DHETBENCH_F64),
// with fixed boundary:
//   v' = c0 * v + c1 * ((x- + x+) + (y- + y+) + (z- + z+)) inside,
//   v' = v on the six faces.
// One work-item per (x, y) column and chunk of `zchunk` planes, marching in
// z with the planes below, at and above in registers; x is the fastest
// dimension, so a work-group's loads and stores are contiguous.
// A dispatch steps planes zlo..zhi; where the grid is larger than a device
// binds at once, one dispatch per slab of planes binds a window of each
// buffer (a sub-buffer), whose first element is element o0, o1, o2 of u0,
// u, tmp (0 when bound whole).
// Launch: u0 (in), u (out), tmp (out), nx, ny, nz, zchunk, zlo, zhi, o0,
// o1, o2, c0, c1; work-groups of 64 x 4 x 1, global (64*ceil(nx/64),
// 4*ceil(ny/4), ceil((zhi-zlo)/zchunk)). The kernel picks the source and destination of the step
// (ping-pong); the last step of an invocation always writes u.

#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif

static inline void step(__global const real *restrict src, const uint so,
                        __global real *restrict dst, const uint dof,
                        const uint nx, const uint ny, const uint nz, const uint zchunk,
                        const uint zlo, const uint zhi, const real c0, const real c1) {
    const uint x = get_global_id(0), y = get_global_id(1);
    if (x >= nx || y >= ny) return;
    const uint z0 = zlo + get_global_id(2) * zchunk;
    const uint z1 = min(z0 + zchunk, zhi);
    if (z0 >= z1) return;
    const uint plane = nx * ny;
    uint i = (z0 * ny + y) * nx + x;
    if (x == 0 || y == 0 || x == nx - 1 || y == ny - 1) {
        for (uint z = z0; z < z1; z++, i += plane) dst[i - dof] = src[i - so];
        return;
    }
    real below = z0 > 0 ? src[i - plane - so] : (real)0;
    real centre = src[i - so];
    for (uint z = z0; z < z1; z++, i += plane) {
        const real above = z + 1 < nz ? src[i + plane - so] : (real)0;
        real v = centre;
        if (z != 0 && z != nz - 1) {
            const uint j = i - so;
            const real s = ((src[j - 1] + src[j + 1]) + (src[j - nx] + src[j + nx])) + (below + above);
            v = fma(c0, centre, c1 * s);
        }
        dst[i - dof] = v;
        below = centre;
        centre = above;
    }
}

#define ARGS __global const real *restrict u0, __global real *restrict u, \
             __global real *restrict tmp, const uint nx, const uint ny, const uint nz, \
             const uint zchunk, const uint zlo, const uint zhi, const uint o0, const uint o1, \
             const uint o2, const float c0, const float c1

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_u(ARGS) {
    step(u0, o0, u, o1, nx, ny, nz, zchunk, zlo, zhi, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_tmp(ARGS) {
    step(u0, o0, tmp, o2, nx, ny, nz, zchunk, zlo, zhi, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void tmp_to_u(ARGS) {
    step(tmp, o2, u, o1, nx, ny, nz, zchunk, zlo, zhi, c0, c1);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void u_to_tmp(ARGS) {
    step(u, o1, tmp, o2, nx, ny, nz, zchunk, zlo, zhi, c0, c1);
}
