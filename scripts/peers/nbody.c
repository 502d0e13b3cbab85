/* OpenMP peer of hetbench's nbody: all-pairs accelerations with Plummer
 * softening, f32, the same arithmetic (true sqrt and division, FMA where
 * the compiler contracts). Build: cc -O3 -march=native -fopenmp nbody.c -lm
 * Usage: nbody N REPS -> prints the median Ginteractions/s (n^2 per run). */
#include <math.h>
#include <stdio.h>
#include "common.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 16384;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    const float eps2 = 0.01f * 0.01f;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    float *z = malloc(n * sizeof(float)), *m = malloc(n * sizeof(float));
    float *ax = malloc(n * sizeof(float)), *ay = malloc(n * sizeof(float));
    float *az = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) {
        x[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
        y[i] = (float)((i * 104729) % 2000) / 1000.0f - 1.0f;
        z[i] = (float)((i * 1299709) % 2000) / 1000.0f - 1.0f;
        m[i] = 1.0f / n;
    }
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            const float xi = x[i], yi = y[i], zi = z[i];
            float sx = 0.0f, sy = 0.0f, sz = 0.0f;
#pragma omp simd reduction(+ : sx, sy, sz)
            for (int j = 0; j < n; j++) {
                const float dx = x[j] - xi, dy = y[j] - yi, dz = z[j] - zi;
                const float r2 = dx * dx + dy * dy + dz * dz + eps2;
                const float s = m[j] / (r2 * sqrtf(r2));
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
