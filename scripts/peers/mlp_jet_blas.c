/* Library peer of hetbench's mlp_jet: the 16-64-32-32-5 MLP (ReLU, softmax)
 * in f32, as a tuned CPU inference code runs a batch: each thread takes
 * tiles of events and runs every layer as one OpenBLAS sgemm over the tile
 * (events x in) * (in x out), then bias and ReLU; softmax with libm expf.
 * Same layouts as hetbench (features feature-major, probabilities
 * class-major, weights [in][out] + bias per layer). OpenBLAS runs
 * single-threaded inside the OpenMP threads.
 * Build: cc -O3 -march=native -fno-math-errno -fopenmp mlp_jet_blas.c -lopenblas -lm
 * Usage: mlp_jet_blas EVENTS REPS [TILE] -> prints the median Mevents/s. */
#include <math.h>
#include <stdio.h>
#include <cblas.h>
#include "common.h"

void openblas_set_num_threads(int);

static const int dims[5] = {16, 64, 32, 32, 5};

/* out[t x J] = relu?(in[t x K] * w[K x J] + b), in row-major with stride lda
 * (trans: in is stored K x t, feature-major, stride lda). */
static void layer(const float *in, int lda, int trans, const float *w, float *out, int t,
                  int K, int J, int relu) {
    cblas_sgemm(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, CblasNoTrans, t, J, K, 1.0f, in,
                lda, w, J, 0.0f, out, J);
    const float *b = w + K * J;
    for (int e = 0; e < t; e++) {
        float *o = out + (long)e * J;
#pragma omp simd
        for (int j = 0; j < J; j++) {
            float v = o[j] + b[j];
            o[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1048576;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    int tile = argc > 3 ? atoi(argv[3]) : 512;
    openblas_set_num_threads(1);
    int off[4], total = 0;
    for (int l = 0; l < 4; l++) { off[l] = total; total += dims[l] * dims[l + 1] + dims[l + 1]; }
    float *w = malloc(total * sizeof(float));
    for (int i = 0; i < total; i++) w[i] = (float)((i * 7919) % 2000) / 4000.0f - 0.25f;
    float *x = malloc(16 * n * sizeof(float)), *p = malloc(5 * n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (long i = 0; i < 16 * n; i++) x[i] = (float)((i * 104729) % 2000) / 1000.0f - 1.0f;
    double *t = malloc(reps * sizeof(double));
    long tiles = (n + tile - 1) / tile;
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel
        {
            float *h1 = malloc((size_t)tile * 64 * sizeof(float));
            float *h2 = malloc((size_t)tile * 32 * sizeof(float));
            float *h3 = malloc((size_t)tile * 32 * sizeof(float));
            float *z = malloc((size_t)tile * 5 * sizeof(float));
#pragma omp for schedule(static)
            for (long tb = 0; tb < tiles; tb++) {
                long e0 = tb * tile;
                int te = (int)(n - e0 < tile ? n - e0 : tile);
                layer(x + e0, (int)n, 1, w + off[0], h1, te, 16, 64, 1);
                layer(h1, 64, 0, w + off[1], h2, te, 64, 32, 1);
                layer(h2, 32, 0, w + off[2], h3, te, 32, 32, 1);
                layer(h3, 32, 0, w + off[3], z, te, 32, 5, 0);
                for (int e = 0; e < te; e++) {
                    float *zz = z + 5 * e, m = zz[0], s = 0.0f;
                    for (int c = 1; c < 5; c++) m = zz[c] > m ? zz[c] : m;
                    for (int c = 0; c < 5; c++) { zz[c] = expf(zz[c] - m); s += zz[c]; }
                    for (int c = 0; c < 5; c++) p[c * n + e0 + e] = zz[c] / s;
                }
            }
            free(h1); free(h2); free(h3); free(z);
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n / median(t, reps) / 1e6);
    fprintf(stderr, "mlp_jet_blas n=%ld reps=%d tile=%d p[1]=%g\n", n, reps, tile, p[1]);
    return 0;
}
