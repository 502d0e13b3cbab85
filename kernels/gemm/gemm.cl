// C = A * B, square row-major, n x n, in `real` (float; double when
// compiled with -DHETBENCH_F64 for the f64 variant).
// Each work-group of 16 x 16 work-items computes a 64 x 64 tile of C, each
// work-item 4 x 4 elements strided by 16 (rows ty + 16i, columns tx + 16j);
// K advances in slabs of 16 staged through local memory.
// Launch: a, b (in), c (out), n; global (16*ceil(n/64), 16*ceil(n/64)).
#ifdef HETBENCH_F64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
typedef double real;
#else
typedef float real;
#endif
#define TS 64
#define TK 16

__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void gemm(__global const real *restrict a, __global const real *restrict b,
          __global real *restrict c, const uint n) {
    __local real As[TK * TS];
    __local real Bs[TK * TS];
    const uint tx = get_local_id(0), ty = get_local_id(1);
    const uint row0 = get_group_id(1) * TS, col0 = get_group_id(0) * TS;
    const uint tid = ty * 16 + tx;
    real acc[16];
    for (int i = 0; i < 16; i++) acc[i] = 0;
    for (uint k0 = 0; k0 < n; k0 += TK) {
        for (uint l = 0; l < 4; l++) {
            const uint e = tid + l * 256;
            const uint ar = e / TK, ak = e % TK;
            As[ak * TS + ar] = (row0 + ar < n && k0 + ak < n) ? a[(row0 + ar) * n + k0 + ak] : 0;
            const uint bk = e / TS, bc = e % TS;
            Bs[bk * TS + bc] = (k0 + bk < n && col0 + bc < n) ? b[(k0 + bk) * n + col0 + bc] : 0;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint k = 0; k < TK; k++) {
            real ra[4], rb[4];
            for (uint i = 0; i < 4; i++) {
                ra[i] = As[k * TS + ty + 16 * i];
                rb[i] = Bs[k * TS + tx + 16 * i];
            }
            for (uint i = 0; i < 4; i++)
                for (uint j = 0; j < 4; j++)
                    acc[i * 4 + j] = fma(ra[i], rb[j], acc[i * 4 + j]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (uint i = 0; i < 4; i++) {
        for (uint j = 0; j < 4; j++) {
            const uint r = row0 + ty + 16 * i, col = col0 + tx + 16 * j;
            if (r < n && col < n) c[r * n + col] = acc[i * 4 + j];
        }
    }
}
