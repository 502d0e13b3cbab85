/* OpenMP peer of hetbench's mlp_jet: the 16-64-32-32-5 MLP (ReLU, softmax)
 * in f32 over a batch of events, features feature-major, probabilities
 * class-major, weights packed [in][out] + bias per layer as in hetbench.
 * Per event, plain layer loops that GCC vectorises over the neurons; libm
 * expf. Build: cc -O3 -march=native -fno-math-errno -fopenmp mlp_jet.c -lm
 * Usage: mlp_jet EVENTS REPS -> prints the median Mevents/s. */
#include <math.h>
#include <stdio.h>
#include "common.h"

static const int dims[5] = {16, 64, 32, 32, 5};

static inline void dense(const float *restrict w, const float *restrict in,
                         float *restrict out, int K, int J, int relu) {
    const float *b = w + K * J;
    float acc[64];
#pragma omp simd
    for (int j = 0; j < J; j++) acc[j] = b[j];
    for (int k = 0; k < K; k++) {
        const float xk = in[k];
#pragma omp simd
        for (int j = 0; j < J; j++) acc[j] += xk * w[k * J + j];
    }
#pragma omp simd
    for (int j = 0; j < J; j++) out[j] = relu ? (acc[j] > 0.0f ? acc[j] : 0.0f) : acc[j];
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1048576;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    int off[4], total = 0;
    for (int l = 0; l < 4; l++) { off[l] = total; total += dims[l] * dims[l + 1] + dims[l + 1]; }
    float *w = malloc(total * sizeof(float));
    for (int i = 0; i < total; i++) w[i] = (float)((i * 7919) % 2000) / 4000.0f - 0.25f;
    float *x = malloc(16 * n * sizeof(float)), *p = malloc(5 * n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (long i = 0; i < 16 * n; i++) x[i] = (float)((i * 104729) % 2000) / 1000.0f - 1.0f;
    double *t = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for schedule(static)
        for (long e = 0; e < n; e++) {
            float h0[16], h1[64], h2[32], h3[32], z[5];
            for (int f = 0; f < 16; f++) h0[f] = x[f * n + e];
            dense(w + off[0], h0, h1, 16, 64, 1);
            dense(w + off[1], h1, h2, 64, 32, 1);
            dense(w + off[2], h2, h3, 32, 32, 1);
            dense(w + off[3], h3, z, 32, 5, 0);
            float m = z[0], s = 0.0f;
            for (int c = 1; c < 5; c++) m = z[c] > m ? z[c] : m;
            for (int c = 0; c < 5; c++) { z[c] = expf(z[c] - m); s += z[c]; }
            for (int c = 0; c < 5; c++) p[c * n + e] = z[c] / s;
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n / median(t, reps) / 1e6);
    fprintf(stderr, "mlp_jet n=%ld reps=%d p[1]=%g\n", n, reps, p[1]);
    return 0;
}
