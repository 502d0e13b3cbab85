/* OpenMP STREAM triad peer of hetbench's stream_triad: a = b + s*c, f32 (or f64 with
 * -DREAL=double).
 * Build: cc -O3 -march=native -fopenmp triad.c -o triad
 * Usage: triad N REPS  -> prints the median bandwidth in GB/s (3 sizeof(REAL) bytes/element). */
#include <stdio.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 33554432L;
    int reps = argc > 2 ? atoi(argv[2]) : 50;
    REAL *a = aligned_alloc(64, n * sizeof(REAL));
    REAL *b = aligned_alloc(64, n * sizeof(REAL));
    REAL *c = aligned_alloc(64, n * sizeof(REAL));
    const REAL s = 3.0;
    /* First touch by the threads that will stream each range. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0.0; b[i] = 1.0 + (i % 7); c[i] = 0.5 * (i % 5); }
    double *t = malloc(reps * sizeof(double));
    for (int r = -2; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        if (r >= 0) t[r] = now_s() - t0;
    }
    double check = 0;
    for (long i = 0; i < n; i += n / 16) check += a[i];
    printf("%.4f\n", 3.0 * sizeof(REAL) * n / median(t, reps) / 1e9);
    fprintf(stderr, "triad n=%ld reps=%d check=%g\n", n, reps, check);
    return 0;
}
