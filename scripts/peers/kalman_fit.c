/* OpenMP peer of hetbench's kalman_fit: the same Kalman filter (seed from two
 * hits, then predict + update with a full 5x5 covariance on every plane),
 * f32, hits structure-of-arrays with the track as the fast index, one SIMD
 * lane per track (omp simd over tracks).
 * Build: cc -O3 -march=native -fno-math-errno -fopenmp kalman_fit.c -lm
 * Usage: kalman_fit TRACKS REPS -> prints the median Mtracks/s (10 planes). */
#include <math.h>
#include <stdio.h>
#include "common.h"

#define LAYERS 10

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1048576;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    const float dz = 100.0f, sigma = 0.05f, scatter = 0.001f, kappa = 6e-4f, qop_var = 1.0f;
    float *hx = malloc(LAYERS * n * sizeof(float)), *hy = malloc(LAYERS * n * sizeof(float));
    float *params = malloc(5 * n * sizeof(float)), *chi2 = malloc(n * sizeof(float));
#pragma omp parallel for schedule(static)
    for (long t = 0; t < n; t++) {
        float tx = (float)((t * 7919) % 600) / 1000.0f - 0.3f, ty = (float)((t * 104729) % 600) / 1000.0f - 0.3f;
        float q = (float)((t * 1299709) % 2000) / 1000.0f - 1.0f;
        for (int l = 0; l < LAYERS; l++) {
            float z = dz * l, e = ((t * 31 + l * 17) % 100) / 1000.0f - 0.05f;
            hx[l * n + t] = tx * z + 0.5f * kappa * q * z * z + e;
            hy[l * n + t] = ty * z - e;
        }
    }
    const float a = dz, b = 0.5f * kappa * dz * dz, c = kappa * dz, s2 = sigma * sigma, th2 = scatter * scatter;
    const float half_kdz = 0.5f * kappa * dz, var_pos = sigma * sigma, cov_ps = var_pos / dz;
    const float var_slope = 2.0f * var_pos / (dz * dz) + th2;
    double *tm = malloc(reps * sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_s();
#pragma omp parallel for simd schedule(static)
        for (long t = 0; t < n; t++) {
            const float x0 = hx[t], y0 = hy[t], x1 = hx[n + t], y1 = hy[n + t];
            float x[5] = {x1, y1, (x1 - x0) * (1.0f / dz), (y1 - y0) * (1.0f / dz), 0.0f};
            float cv[5][5] = {{0}};
            cv[0][0] = var_pos; cv[1][1] = var_pos;
            cv[0][2] = cv[2][0] = cov_ps; cv[1][3] = cv[3][1] = cov_ps;
            cv[2][2] = var_slope + half_kdz * half_kdz * qop_var; cv[3][3] = var_slope;
            cv[2][4] = cv[4][2] = half_kdz * qop_var; cv[4][4] = qop_var;
            float chi = 0.0f;
            for (int layer = 2; layer < LAYERS; layer++) {
                x[0] += a * x[2] + b * x[4];
                x[1] += a * x[3];
                x[2] += c * x[4];
                for (int j = 0; j < 5; j++) {
                    cv[0][j] += a * cv[2][j] + b * cv[4][j];
                    cv[1][j] += a * cv[3][j];
                    cv[2][j] += c * cv[4][j];
                }
                for (int i = 0; i < 5; i++) {
                    cv[i][0] += a * cv[i][2] + b * cv[i][4];
                    cv[i][1] += a * cv[i][3];
                    cv[i][2] += c * cv[i][4];
                }
                cv[2][2] += th2; cv[3][3] += th2;
                const float r0 = hx[layer * n + t] - x[0], r1 = hy[layer * n + t] - x[1];
                const float s00 = cv[0][0] + s2, s01 = cv[0][1], s11 = cv[1][1] + s2;
                const float inv = 1.0f / (s00 * s11 - s01 * s01);
                const float i00 = s11 * inv, i01 = -s01 * inv, i11 = s00 * inv;
                float row0[5], row1[5];
                for (int j = 0; j < 5; j++) { row0[j] = cv[0][j]; row1[j] = cv[1][j]; }
                for (int i = 0; i < 5; i++) {
                    const float k0 = cv[i][0] * i00 + cv[i][1] * i01, k1 = cv[i][0] * i01 + cv[i][1] * i11;
                    x[i] += k0 * r0 + k1 * r1;
                    for (int j = 0; j < 5; j++) cv[i][j] -= k0 * row0[j] + k1 * row1[j];
                }
                chi += r0 * (i00 * r0 + i01 * r1) + r1 * (i01 * r0 + i11 * r1);
            }
            for (int q = 0; q < 5; q++) params[q * n + t] = x[q];
            chi2[t] = chi;
        }
        if (r >= 0) tm[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n / median(tm, reps) / 1e6);
    fprintf(stderr, "kalman_fit n=%ld reps=%d q/p[1]=%g chi2[1]=%g\n", n, reps, params[4 * n + 1], chi2[1]);
    return 0;
}
