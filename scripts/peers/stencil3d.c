/* OpenMP peer of hetbench's stencil3d: 7-point Jacobi heat steps on an
 * nx*ny*nz f32 grid with fixed boundary, ping-pong, the same arithmetic
 * (c0 = 1/4, c1 = 1/8, the same order of the neighbour sum).
 * Build: cc -O3 -march=native -fopenmp stencil3d.c
 * Usage: stencil3d N STEPS REPS -> prints the median Gpoint-updates/s. */
#include <stdio.h>
#include <string.h>
#include "common.h"

static void step(const float *restrict src, float *restrict dst, long n) {
    const long plane = n * n;
#pragma omp parallel for schedule(static)
    for (long z = 0; z < n; z++) {
        for (long y = 0; y < n; y++) {
            const long r = z * plane + y * n;
            if (z == 0 || z == n - 1 || y == 0 || y == n - 1) {
                memcpy(dst + r, src + r, n * sizeof(float));
                continue;
            }
            dst[r] = src[r];
            dst[r + n - 1] = src[r + n - 1];
#pragma omp simd
            for (long x = 1; x < n - 1; x++) {
                const long i = r + x;
                const float s = ((src[i - 1] + src[i + 1]) + (src[i - n] + src[i + n])) +
                                (src[i - plane] + src[i + plane]);
                dst[i] = 0.25f * src[i] + 0.125f * s;
            }
        }
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 256;
    int steps = argc > 2 ? atoi(argv[2]) : 8;
    int reps = argc > 3 ? atoi(argv[3]) : 10;
    long p = n * n * n;
    float *u0 = malloc(p * sizeof(float)), *a = malloc(p * sizeof(float));
    float *b = malloc(p * sizeof(float));
    /* First touch with the compute loop's static partition. */
#pragma omp parallel for schedule(static)
    for (long z = 0; z < n; z++)
        for (long k = 0; k < n * n; k++) {
            long i = z * n * n + k;
            u0[i] = (float)((i * 7919) % 1000) / 1000.0f;
            a[i] = 0.0f;
            b[i] = 0.0f;
        }
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
        for (int k = 0; k < steps; k++) {
            int to_a = (steps - 1 - k) % 2 == 0;
            const float *src = k == 0 ? u0 : (to_a ? b : a);
            step(src, to_a ? a : b, n);
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)p * steps / median(t, reps) / 1e9);
    fprintf(stderr, "stencil3d n=%ld steps=%d reps=%d a[mid]=%g\n", n, steps, reps, a[p / 2]);
    return 0;
}
