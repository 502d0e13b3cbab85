// 7-point Jacobi heat step, in `real` (float; double with -DHETBENCH_F64),
// with fixed boundary:
//   v' = c0 * v + c1 * ((x- + x+) + (y- + y+) + (z- + z+)) inside,
//   v' = v on the six faces.
// One work-item per (x, y) column and chunk of `zchunk` planes, marching in
// z with the planes below and above in registers and the plane itself in a
// work-group tile with halo (2.5-D blocking): each point is read from global
// memory once per step, its four in-plane neighbours from the tile; x is
// the fastest dimension, so a work-group's loads and stores are contiguous.
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

// The work-group's tile of one plane with a halo of one point on each side
// (66 x 6), twice: plane z uses half z & 1, so one barrier per plane
// suffices (a half is written again only after every work-item has passed
// the barrier that follows its last read).
#define TX 64u
#define TY 4u
#define SW 66u
#define HALF 396u

static inline void step(__global const real *restrict src, const uint so,
                        __global real *restrict dst, const uint dof,
                        const uint nx, const uint ny, const uint nz, const uint zchunk,
                        const uint zlo, const uint zhi, const real c0, const real c1,
                        __local real *tile) {
    const uint lx = get_local_id(0), ly = get_local_id(1);
    const uint x = get_group_id(0) * TX + lx, y = get_group_id(1) * TY + ly;
    // The same for the whole work-group: every work-item takes every
    // barrier, those outside the grid included.
    const uint z0 = zlo + get_group_id(2) * zchunk;
    const uint z1 = min(z0 + zchunk, zhi);
    const bool inside = x < nx && y < ny;
    const bool edge = x == 0 || y == 0 || x == nx - 1 || y == ny - 1;
    const uint plane = nx * ny;
    // This work-item's cell in the tile, and the halo it loads: the column
    // beside it where it is at the tile's edge and that column is in the
    // grid (only interior points read neighbours, and theirs are).
    const uint l = (ly + 1) * SW + lx + 1;
    const bool west = inside && lx == 0 && x > 0;
    const bool east = inside && lx == TX - 1 && x + 1 < nx;
    const bool north = inside && ly == 0 && y > 0;
    const bool south = inside && ly == TY - 1 && y + 1 < ny;
    uint i = (z0 * ny + y) * nx + x;
    real below = 0, centre = 0;
    if (inside && z0 < z1) {
        if (z0 > 0) below = src[i - plane - so];
        centre = src[i - so];
    }
    for (uint z = z0; z < z1; z++, i += plane) {
        const uint t = ((z - z0) & 1) * HALF + l;
        const uint j = i - so;
        real above = 0;
        if (inside) {
            if (z + 1 < nz) above = src[j + plane];
            tile[t] = centre;
            if (west) tile[t - 1] = src[j - 1];
            if (east) tile[t + 1] = src[j + 1];
            if (north) tile[t - SW] = src[j - nx];
            if (south) tile[t + SW] = src[j + nx];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (inside) {
            real v = centre;
            if (!edge && z != 0 && z != nz - 1) {
                const real s = ((tile[t - 1] + tile[t + 1]) + (tile[t - SW] + tile[t + SW])) + (below + above);
                v = fma(c0, centre, c1 * s);
            }
            dst[i - dof] = v;
        }
        below = centre;
        centre = above;
    }
}

#define ARGS __global const real *restrict u0, __global real *restrict u, \
             __global real *restrict tmp, const uint nx, const uint ny, const uint nz, \
             const uint zchunk, const uint zlo, const uint zhi, const uint o0, const uint o1, \
             const uint o2, const float c0, const float c1

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_u(ARGS) {
    __local real tile[2 * HALF];
    step(u0, o0, u, o1, nx, ny, nz, zchunk, zlo, zhi, c0, c1, tile);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void in_to_tmp(ARGS) {
    __local real tile[2 * HALF];
    step(u0, o0, tmp, o2, nx, ny, nz, zchunk, zlo, zhi, c0, c1, tile);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void tmp_to_u(ARGS) {
    __local real tile[2 * HALF];
    step(tmp, o2, u, o1, nx, ny, nz, zchunk, zlo, zhi, c0, c1, tile);
}

__kernel __attribute__((reqd_work_group_size(64, 4, 1))) void u_to_tmp(ARGS) {
    __local real tile[2 * HALF];
    step(u, o1, tmp, o2, nx, ny, nz, zchunk, zlo, zhi, c0, c1, tile);
}
