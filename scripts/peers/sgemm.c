/* OpenBLAS sgemm peer of hetbench's gemm: C = A*B, row-major f32, n x n
 * (cblas_dgemm in f64 with -DREAL=double).
 * Build: cc -O3 -march=native sgemm.c -o sgemm -lopenblas
 * Usage: sgemm N REPS  -> prints the median GFLOP/s (2 n^3 FLOP). */
#include <stdio.h>
#include <cblas.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif
#define IS_DOUBLE (sizeof(REAL) == 8)

char *openblas_get_corename(void);
int openblas_get_num_threads(void);

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048;
    int reps = argc > 2 ? atoi(argv[2]) : 20;
    REAL *a = aligned_alloc(64, (size_t)n * n * sizeof(REAL));
    REAL *b = aligned_alloc(64, (size_t)n * n * sizeof(REAL));
    REAL *c = aligned_alloc(64, (size_t)n * n * sizeof(REAL));
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (REAL)((i * 7919) % 1000) / 500.0 - 1.0;
        b[i] = (REAL)((i * 104729) % 1000) / 500.0 - 1.0;
        c[i] = 0.0;
    }
    double *t = malloc(reps * sizeof(double));
    for (int r = -2; r < reps; r++) {
        double t0 = now_s();
        if (IS_DOUBLE)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, (double *)a, n,
                        (double *)b, n, 0.0, (double *)c, n);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, (float *)a, n,
                        (float *)b, n, 0.0f, (float *)c, n);
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", 2.0 * n * n * (double)n / median(t, reps) / 1e9);
    fprintf(stderr, "%s n=%d reps=%d openblas core=%s threads=%d c[0]=%g\n", IS_DOUBLE ? "dgemm" : "sgemm", n, reps,
            openblas_get_corename(), openblas_get_num_threads(), c[0]);
    return 0;
}
