/* Peer of hetbench's conv2d: im2col (OpenMP) + OpenBLAS cblas_sgemm, NCHW,
 * f32, stride 1, zero "same" padding, the same decomposition as hetbench's
 * CPU implementation with the BLAS that frameworks' CPU backends use.
 * Build: cc -O3 -march=native -fopenmp conv2d.c -lopenblas
 * Usage: conv2d N CIN COUT H W K REPS -> prints the median GFLOP/s. */
#include <stdio.h>
#include <string.h>
#include <cblas.h>
#include "common.h"

int main(int argc, char **argv) {
    if (argc < 8) { fprintf(stderr, "usage: conv2d N CIN COUT H W K REPS\n"); return 2; }
    long n = atol(argv[1]), cin = atol(argv[2]), cout = atol(argv[3]), h = atol(argv[4]);
    long w = atol(argv[5]), k = atol(argv[6]);
    int reps = atoi(argv[7]);
    long hw = h * w, taps = cin * k * k, r = k / 2;
    float *x = malloc(n * cin * hw * sizeof(float)), *wt = malloc(cout * taps * sizeof(float));
    float *y = malloc(n * cout * hw * sizeof(float)), *col = malloc(taps * hw * sizeof(float));
    for (long i = 0; i < n * cin * hw; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
    for (long i = 0; i < cout * taps; i++) wt[i] = (float)((i * 104729) % 1000) / 50000.0f - 0.01f;
    double *t = malloc(reps * sizeof(double));
    for (int rep = -1; rep < reps; rep++) {
        double t0 = now_s();
        for (long img = 0; img < n; img++) {
            const float *xi = x + img * cin * hw;
#pragma omp parallel for schedule(static)
            for (long row = 0; row < taps; row++) {
                long c = row / (k * k), ky = (row % (k * k)) / k, kx = row % k;
                const float *plane = xi + c * hw;
                float *out = col + row * hw;
                for (long oy = 0; oy < h; oy++) {
                    long iy = oy + ky - r;
                    float *o = out + oy * w;
                    if (iy < 0 || iy >= h) { memset(o, 0, w * sizeof(float)); continue; }
                    const float *src = plane + iy * w;
                    for (long ox = 0; ox < w; ox++) {
                        long ix = ox + kx - r;
                        o[ox] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
                    }
                }
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout, hw, taps, 1.0f, wt, taps,
                        col, hw, 0.0f, y + img * cout * hw, hw);
        }
        if (rep >= 0) t[rep] = now_s() - t0;
    }
    printf("%.2f\n", 2.0 * n * cout * hw * taps / median(t, reps) / 1e9);
    fprintf(stderr, "conv2d y[1]=%g\n", y[1]);
    return 0;
}
