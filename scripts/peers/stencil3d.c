/* OpenMP peer of hetbench's stencil3d: 7-point Jacobi heat steps on an
 * nx*ny*nz f32 grid with fixed boundary, ping-pong, the same arithmetic
 * (c0 = 1/4, c1 = 1/8, the same order of the neighbour sum).
 * Build: cc -O3 -march=native -fopenmp stencil3d.c
 * Usage: stencil3d N STEPS REPS -> prints the median Gpoint-updates/s. */
#include <stdio.h>
#include <string.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif

static void step(const REAL *restrict src, REAL *restrict dst, long n) {
    const long plane = n * n;
#pragma omp parallel for schedule(static)
    for (long z = 0; z < n; z++) {
        for (long y = 0; y < n; y++) {
            const long r = z * plane + y * n;
            if (z == 0 || z == n - 1 || y == 0 || y == n - 1) {
                memcpy(dst + r, src + r, n * sizeof(REAL));
                continue;
            }
            dst[r] = src[r];
            dst[r + n - 1] = src[r + n - 1];
#pragma omp simd
            for (long x = 1; x < n - 1; x++) {
                const long i = r + x;
                const REAL s = ((src[i - 1] + src[i + 1]) + (src[i - n] + src[i + n])) +
                                (src[i - plane] + src[i + plane]);
                dst[i] = (REAL)0.25 * src[i] + (REAL)0.125 * s;
            }
        }
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 256;
    int steps = argc > 2 ? atoi(argv[2]) : 8;
    int reps = argc > 3 ? atoi(argv[3]) : 10;
    long p = n * n * n;
    REAL *u0 = malloc(p * sizeof(REAL)), *a = malloc(p * sizeof(REAL));
    REAL *b = malloc(p * sizeof(REAL));
    /* First touch with the compute loop's static partition. */
#pragma omp parallel for schedule(static)
    for (long z = 0; z < n; z++)
        for (long k = 0; k < n * n; k++) {
            long i = z * n * n + k;
            u0[i] = (REAL)((i * 7919) % 1000) / (REAL)1000.0;
            a[i] = (REAL)0.0;
            b[i] = (REAL)0.0;
        }
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        for (int k = 0; k < steps; k++) {
            int to_a = (steps - 1 - k) % 2 == 0;
            const REAL *src = k == 0 ? u0 : (to_a ? b : a);
            step(src, to_a ? a : b, n);
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)p * steps / median(t, reps) / 1e9);
    fprintf(stderr, "stencil3d n=%ld steps=%d reps=%d a[mid]=%g\n", n, steps, reps, a[p / 2]);
    return 0;
}
