/* OpenMP peer of hetbench's hough: the same integer Hough transform (u32
 * fixed-point angles, phi0 = phi + slope * r wrapping, bin = phi0 >> shift),
 * each thread filling whole q/pT rows (no atomics), then the same peak rule.
 * Build: cc -O3 -march=native -fopenmp hough.c
 * Usage: hough HITS QBINS PHIBITS REPS -> prints the median Gvotes/s. */
#include <stdint.h>
#include <stdio.h>
#include "common.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 216000;
    int qbins = argc > 2 ? atoi(argv[2]) : 128, bits = argc > 3 ? atoi(argv[3]) : 11;
    int reps = argc > 4 ? atoi(argv[4]) : 10;
    const int nphi = 1 << bits, shift = 32 - bits;
    uint32_t *r = malloc(n * 4), *phi = malloc(n * 4), *slopes = malloc(qbins * 4);
    uint32_t *acc = malloc((size_t)qbins * nphi * 4), *peaks = malloc((size_t)qbins * nphi * 4);
    uint64_t x = 88172645463325252ull;
    for (long i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        r[i] = 200 + 100 * (uint32_t)(i % 8);
        phi[i] = (uint32_t)(x >> 32);
    }
    for (int q = 0; q < qbins; q++) slopes[q] = (uint32_t)(int32_t)((q - qbins / 2) * 1000);
    double *t = malloc(reps * sizeof(double));
    for (int rep = -1; rep < reps; rep++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (int q = 0; q < qbins; q++) {
            uint32_t *row = acc + (size_t)q * nphi, s = slopes[q];
            for (int p = 0; p < nphi; p++) row[p] = 0;
            for (long i = 0; i < n; i++) row[(phi[i] + s * r[i]) >> shift]++;
        }
#pragma omp parallel for schedule(static)
        for (int q = 0; q < qbins; q++)
            for (int p = 0; p < nphi; p++) {
                uint32_t v = acc[(size_t)q * nphi + p];
                int peak = v >= 6;
                for (int dq = -1; dq <= 1 && peak; dq++) {
                    int qq = q + dq;
                    if (qq < 0 || qq >= qbins) continue;
                    for (int dp = -1; dp <= 1; dp++) {
                        if (!dq && !dp) continue;
                        uint32_t w = acc[(size_t)qq * nphi + ((p + dp + nphi) % nphi)];
                        int before = dq < 0 || (dq == 0 && dp < 0);
                        if ((before && v <= w) || (!before && v < w)) peak = 0;
                    }
                }
                peaks[(size_t)q * nphi + p] = peak ? v : 0;
            }
        if (rep >= 0) t[rep] = now_s() - t0;
    }
    printf("%.4f\n", (double)n * qbins / median(t, reps) / 1e9);
    fprintf(stderr, "hough n=%ld qbins=%d nphi=%d acc[1]=%u\n", n, qbins, nphi, acc[1]);
    return 0;
}
