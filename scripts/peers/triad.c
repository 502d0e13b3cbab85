/* OpenMP STREAM triad peer of hetbench's stream_triad: a = b + s*c, f32.
 * Build: cc -O3 -march=native -fopenmp triad.c -o triad
 * Usage: triad N REPS  -> prints the median bandwidth in GB/s (12 bytes/element). */
#include <stdio.h>
#include "common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 33554432L;
    int reps = argc > 2 ? atoi(argv[2]) : 50;
    float *a = aligned_alloc(64, n * sizeof(float));
    float *b = aligned_alloc(64, n * sizeof(float));
    float *c = aligned_alloc(64, n * sizeof(float));
    const float s = 3.0f;
    /* First touch by the threads that will stream each range. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) { a[i] = 0.0f; b[i] = 1.0f + (i % 7); c[i] = 0.5f * (i % 5); }
    double *t = malloc(reps * sizeof(double));
    for (int r = -2; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
        if (r >= 0) t[r] = now_s() - t0;
    }
    double check = 0;
    for (long i = 0; i < n; i += n / 16) check += a[i];
    printf("%.4f\n", 12.0 * n / median(t, reps) / 1e9);
    fprintf(stderr, "triad n=%ld reps=%d check=%g\n", n, reps, check);
    return 0;
}
