/* OpenMP peer of hetbench's fma_peak: per item 16 independent chains of
 * x = a*x + b, f32 (f64 with -DREAL=double), 16 items per vector and 8 chains at a time (8
 * independent vector FMA chains), the same arithmetic.
 * Build: cc -O3 -march=native -fopenmp fma_peak.c
 * Usage: fma_peak N ITERS REPS -> prints the median GFLOP/s. */
#include <stdio.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif

/* One 64-byte vector: 16 f32 or 8 f64 items per vector, as hetbench's AVX-512 lanes. */
typedef REAL v16 __attribute__((vector_size(64)));
#define VL ((long)(64 / sizeof(REAL)))

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 262144;
    int iters = argc > 2 ? atoi(argv[2]) : 1024;
    int reps = argc > 3 ? atoi(argv[3]) : 10;
    n = (n + VL - 1) / VL * VL;
    REAL *x0 = malloc(n * sizeof(REAL)), *y = malloc(n * sizeof(REAL));
    for (long i = 0; i < n; i++) x0[i] = -4.0 + (REAL)(i % 1000) / 500.0;
    volatile REAL av = 1.0 - 1.0 / 1024.0, bv = 1.0 / 1024.0;
    const REAL a = av, b = bv;
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(dynamic, 16)
        for (long blk = 0; blk < n / VL; blk++) {
            v16 x, s = {0};
            __builtin_memcpy(&x, x0 + blk * VL, sizeof(v16));
            for (int g = 0; g < 2; g++) {
                v16 c0 = x + (REAL)((g * 8 + 0) * 0.125), c1 = x + (REAL)((g * 8 + 1) * 0.125);
                v16 c2 = x + (REAL)((g * 8 + 2) * 0.125), c3 = x + (REAL)((g * 8 + 3) * 0.125);
                v16 c4 = x + (REAL)((g * 8 + 4) * 0.125), c5 = x + (REAL)((g * 8 + 5) * 0.125);
                v16 c6 = x + (REAL)((g * 8 + 6) * 0.125), c7 = x + (REAL)((g * 8 + 7) * 0.125);
                for (int k = 0; k < iters; k++) {
                    c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b;
                    c4 = c4 * a + b; c5 = c5 * a + b; c6 = c6 * a + b; c7 = c7 * a + b;
                }
                s += ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7));
            }
            __builtin_memcpy(y + blk * VL, &s, sizeof(v16));
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.2f\n", 2.0 * 16 * iters * (double)n / median(t, reps) / 1e9);
    fprintf(stderr, "fma_peak n=%ld iters=%d y[1]=%g\n", n, iters, y[1]);
    return 0;
}
