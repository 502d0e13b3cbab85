/* OpenMP peer of hetbench's nbody: all-pairs accelerations with Plummer
 * softening, f32 (f64 with -DREAL=double), the same arithmetic (true sqrt and division, FMA where
 * the compiler contracts). Build: cc -O3 -march=native -fopenmp nbody.c -lm
 * Usage: nbody N REPS -> prints the median Ginteractions/s (n^2 per run). */
#include <tgmath.h> /* sqrt of a float is sqrtf: no promotion to double */
#include <stdio.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16384;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    const REAL eps2 = 0.01 * 0.01;
    REAL *x = malloc(n * sizeof(REAL)), *y = malloc(n * sizeof(REAL));
    REAL *z = malloc(n * sizeof(REAL)), *m = malloc(n * sizeof(REAL));
    REAL *ax = malloc(n * sizeof(REAL)), *ay = malloc(n * sizeof(REAL));
    REAL *az = malloc(n * sizeof(REAL));
    for (int i = 0; i < n; i++) {
        x[i] = (REAL)((i * 7919) % 2000) / 1000.0 - 1.0;
        y[i] = (REAL)((i * 104729) % 2000) / 1000.0 - 1.0;
        z[i] = (REAL)((i * 1299709) % 2000) / 1000.0 - 1.0;
        m[i] = 1.0 / n;
    }
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            const REAL xi = x[i], yi = y[i], zi = z[i];
            REAL sx = 0.0, sy = 0.0, sz = 0.0;
#pragma omp simd reduction(+ : sx, sy, sz)
            for (int j = 0; j < n; j++) {
                const REAL dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
                const REAL r2 = dx * dx + dy * dy + dz * dz + eps2;
                const REAL s = m[j] / (r2 * sqrt(r2));
                sx += dx * s;
                sy += dy * s;
                sz += dz * s;
            }
            ax[i] = sx; ay[i] = sy; az[i] = sz;
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n * n / median(t, reps) / 1e9);
    fprintf(stderr, "nbody n=%d reps=%d ax[1]=%g\n", n, reps, ax[1]);
    return 0;
}
