/* Lane-blocked OpenMP peer of hetbench's kalman_fit: the same filter as
 * kalman_fit.c, but each thread fits blocks of W = 16 tracks with every
 * quantity held as a W-lane array and the per-plane step one `omp simd` loop
 * over the lanes: the layout a tuned C fitter uses (and hetbench's CPU
 * kernel), which GCC vectorises fully, unlike one lane per track of a
 * `parallel for simd` over the whole track loop with 5x5 local arrays.
 * Build: cc -O3 -march=native -fno-math-errno -fopenmp kalman_fit_lanes.c -lm
 * Usage: kalman_fit_lanes TRACKS REPS -> prints the median Mtracks/s (10 planes). */
#include <math.h>
#include <stdio.h>
#include "common.h"

#define LAYERS 10
#define W 16

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1048576;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    n = (n + W - 1) / W * W;
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
#pragma omp parallel for schedule(static)
        for (long blk = 0; blk < n / W; blk++) {
            const long tb = blk * W;
            float x[5][W], cv[5][5][W], chi[W];
#pragma omp simd
            for (int l = 0; l < W; l++) {
                const long t = tb + l;
                const float x0 = hx[t], y0 = hy[t], x1 = hx[n + t], y1 = hy[n + t];
                x[0][l] = x1; x[1][l] = y1;
                x[2][l] = (x1 - x0) * (1.0f / dz); x[3][l] = (y1 - y0) * (1.0f / dz); x[4][l] = 0.0f;
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 5; j++) cv[i][j][l] = 0.0f;
                cv[0][0][l] = var_pos; cv[1][1][l] = var_pos;
                cv[0][2][l] = cv[2][0][l] = cov_ps; cv[1][3][l] = cv[3][1][l] = cov_ps;
                cv[2][2][l] = var_slope + half_kdz * half_kdz * qop_var; cv[3][3][l] = var_slope;
                cv[2][4][l] = cv[4][2][l] = half_kdz * qop_var; cv[4][4][l] = qop_var;
                chi[l] = 0.0f;
            }
            for (int layer = 2; layer < LAYERS; layer++) {
#pragma omp simd
                for (int l = 0; l < W; l++) {
                    const long t = tb + l;
                    x[0][l] += a * x[2][l] + b * x[4][l];
                    x[1][l] += a * x[3][l];
                    x[2][l] += c * x[4][l];
                    for (int j = 0; j < 5; j++) {
                        cv[0][j][l] += a * cv[2][j][l] + b * cv[4][j][l];
                        cv[1][j][l] += a * cv[3][j][l];
                        cv[2][j][l] += c * cv[4][j][l];
                    }
                    for (int i = 0; i < 5; i++) {
                        cv[i][0][l] += a * cv[i][2][l] + b * cv[i][4][l];
                        cv[i][1][l] += a * cv[i][3][l];
                        cv[i][2][l] += c * cv[i][4][l];
                    }
                    cv[2][2][l] += th2; cv[3][3][l] += th2;
                    const float r0 = hx[layer * n + t] - x[0][l], r1 = hy[layer * n + t] - x[1][l];
                    const float s00 = cv[0][0][l] + s2, s01 = cv[0][1][l], s11 = cv[1][1][l] + s2;
                    const float inv = 1.0f / (s00 * s11 - s01 * s01);
                    const float i00 = s11 * inv, i01 = -s01 * inv, i11 = s00 * inv;
                    float row0[5], row1[5];
                    for (int j = 0; j < 5; j++) { row0[j] = cv[0][j][l]; row1[j] = cv[1][j][l]; }
                    for (int i = 0; i < 5; i++) {
                        const float k0 = cv[i][0][l] * i00 + cv[i][1][l] * i01;
                        const float k1 = cv[i][0][l] * i01 + cv[i][1][l] * i11;
                        x[i][l] += k0 * r0 + k1 * r1;
                        for (int j = 0; j < 5; j++) cv[i][j][l] -= k0 * row0[j] + k1 * row1[j];
                    }
                    chi[l] += r0 * (i00 * r0 + i01 * r1) + r1 * (i01 * r0 + i11 * r1);
                }
            }
#pragma omp simd
            for (int l = 0; l < W; l++) {
                for (int q = 0; q < 5; q++) params[q * n + tb + l] = x[q][l];
                chi2[tb + l] = chi[l];
            }
        }
        if (r >= 0) tm[r] = now_s() - t0;
    }
    printf("%.4f\n", (double)n / median(tm, reps) / 1e6);
    fprintf(stderr, "kalman_fit_lanes n=%ld reps=%d q/p[1]=%g chi2[1]=%g\n", n, reps, params[4 * n + 1], chi2[1]);
    return 0;
}
