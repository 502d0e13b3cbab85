/* OpenMP peer of hetbench's mc_transport: the same photon transport (same
 * tables, Philox 4x32-10 counters, Klein-Nishina sampling, fixed-point
 * deposits), f32, one photon per iteration, dynamic schedule.
 * Build: cc -O3 -march=native -fno-math-errno -fopenmp mc_transport.c -lm
 * Usage: mc_transport PHOTONS REPS -> prints the median Mphotons/s. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include "common.h"

#define NE 128
#define L 40
static float xs[2 * NE * 2];

static void philox(uint32_t c[4], uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        uint64_t p0 = 0xD2511F53ull * c[0], p1 = 0xCD9E8D57ull * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = n0; c[1] = (uint32_t)p1; c[2] = n2; c[3] = (uint32_t)p0;
    }
}
static inline float uni(uint32_t r) { return ((float)(r >> 9) + 0.5f) * 1.1920928955078125e-7f; }
static inline float cos2pi(float u) {
    float a = fabsf(u - 0.5f), t = a, sign = -1.0f;
    if (a > 0.25f) { t = 0.5f - a; sign = 1.0f; }
    float x = 6.2831853071795864f * t, x2 = x * x, c = -1.1470745597729725e-11f;
    c = c * x2 + 2.08767569878681e-9f; c = c * x2 - 2.755731922398589e-7f;
    c = c * x2 + 2.48015873015873e-5f; c = c * x2 - 1.388888888888889e-3f;
    c = c * x2 + 4.16666666666667e-2f; c = c * x2 - 0.5f; c = c * x2 + 1.0f;
    return sign * c;
}

static void photon(uint32_t i, uint64_t *dep, float inv_q, float log_emin, float inv_dl) {
    const float t_abs = 0.2f, t_act = 0.5f, e_cut = 0.01f;
    float e = 2.0f, zl = 0.0f, w = 1.0f;
    uint32_t layer = 0;
    for (uint32_t step = 0; step < 1024; step++) {
        uint32_t r[4] = {i, step, 0, 0};
        philox(r, 7, 0);
        uint32_t mat = layer & 1;
        float thick = mat ? t_act : t_abs;
        float u = (logf(e) - log_emin) * inv_dl;
        uint32_t j = u > 0.0f ? (uint32_t)u : 0;
        if (j > NE - 2) j = NE - 2;
        float f = u - (float)j;
        int b = (mat * NE + j) * 2;
        float mu = xs[b] + f * (xs[b + 2] - xs[b]), pc = xs[b + 1] + f * (xs[b + 3] - xs[b + 1]);
        float s = -logf(uni(r[0])) / mu;
        float dist = w > 0.0f ? (thick - zl) / w : (w < 0.0f ? -zl / w : 1e30f);
        if (s >= dist) {
            if (w > 0.0f) { layer++; zl = 0.0f; if (layer >= L) return; }
            else { if (layer == 0) return; layer--; zl = (layer & 1) ? t_act : t_abs; }
            continue;
        }
        zl += s * w;
        if (uni(r[1]) >= pc) { dep[layer] += (uint64_t)floorf(e * inv_q + 0.5f); return; }
        float k = e / 0.51099895f, eps0 = 1.0f / (1.0f + 2.0f * k), eps0sq = eps0 * eps0;
        float a1 = -logf(eps0), a2 = a1 + 0.5f * (1.0f - eps0sq);
        float eps = 1.0f, onecost = 0.0f, sint2 = 0.0f;
        for (uint32_t trial = 0; trial < 16; trial++) {
            uint32_t q[4] = {i, step, trial + 1, 0};
            philox(q, 7, 0);
            float epssq;
            /* a2 already holds a1: part one with probability a1 / a2. */
            if (a1 > uni(q[0]) * a2) { eps = expf(-a1 * uni(q[1])); epssq = eps * eps; }
            else { epssq = eps0sq + (1.0f - eps0sq) * uni(q[1]); eps = sqrtf(epssq); }
            onecost = (1.0f - eps) / (eps * k);
            sint2 = onecost * (2.0f - onecost);
            if (1.0f - eps * sint2 / (1.0f + epssq) >= uni(q[2])) break;
        }
        float cost = 1.0f - onecost, sint = sqrtf(fmaxf(sint2, 0.0f));
        dep[layer] += (uint64_t)floorf(e * (1.0f - eps) * inv_q + 0.5f);
        e *= eps;
        w = fminf(fmaxf(w * cost + sqrtf(fmaxf(1.0f - w * w, 0.0f)) * sint * cos2pi(uni(r[2])), -1.0f), 1.0f);
        if (e < e_cut) { dep[layer] += (uint64_t)floorf(e * inv_q + 0.5f); return; }
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1048576;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    const double emin = 0.01, emax = 20.0, re = 2.8179403262e-13, na = 6.02214076e23;
    const double mat[2][3] = {{11.35, 82.0 / 207.2, 5.0}, {1.032, 0.5415, 1.5e-3}};
    double dl = log(emax / emin) / (NE - 1);
    for (int m = 0; m < 2; m++)
        for (int j = 0; j < NE; j++) {
            double e = emin * exp(j * dl), k = e / 0.51099895, l = log(1 + 2 * k);
            double kn = 2 * M_PI * re * re * ((1 + k) / (k * k) * (2 * (1 + k) / (1 + 2 * k) - l / k) +
                        l / (2 * k) - (1 + 3 * k) / ((1 + 2 * k) * (1 + 2 * k)));
            double c = mat[m][0] * na * mat[m][1] * kn, p = mat[m][0] * mat[m][2] * pow(e / 0.1, -3);
            xs[(m * NE + j) * 2] = (float)(c + p);
            xs[(m * NE + j) * 2 + 1] = (float)(c / (c + p));
        }
    float inv_q = (float)(65536.0 / 2.0), log_emin = (float)log(emin), inv_dl = (float)((NE - 1) / log(emax / emin));
    double *t = malloc(reps * sizeof(double));
    uint64_t total[L] = {0};
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel
        {
            uint64_t dep[L] = {0};
#pragma omp for schedule(dynamic, 1024)
            for (long i = 0; i < n; i++) photon((uint32_t)i, dep, inv_q, log_emin, inv_dl);
#pragma omp critical
            for (int l = 0; l < L; l++) total[l] += dep[l];
        }
        if (r >= 0) t[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n / median(t, reps) / 1e6);
    fprintf(stderr, "mc_transport n=%ld reps=%d layer0=%g MeV\n", n, reps, total[0] / 65536.0 * 2.0 / (reps + 1));
    return 0;
}
