/* OpenMP peer of hetbench's pic_push: Boris push of n particles (SoA) in a
 * Penning-trap E and magnetic-bottle B, f32, the same arithmetic, one sweep
 * over memory per step, ping-pong between two states, each thread running
 * all steps on its static range of particles.
 * Build: cc -O3 -march=native -fopenmp pic_push.c
 * Usage: pic_push N STEPS REPS -> prints the median Gpushes/s. */
#include <stdio.h>
#include <omp.h>
#include "common.h"
#ifndef REAL
#define REAL float /* -DREAL=double for the f64 variant */
#endif

static void push(const REAL *restrict s, REAL *restrict d, long n, long lo, long hi) {
    const REAL dt = (REAL)0.1, h = (REAL)0.05, hk = (REAL)0.05 * (REAL)0.1, c = (REAL)1.0 * (REAL)0.05, bb = (REAL)0.05;
    const REAL *x = s, *y = s + n, *z = s + 2 * n, *vx = s + 3 * n, *vy = s + 4 * n, *vz = s + 5 * n;
    REAL *ox = d, *oy = d + n, *oz = d + 2 * n, *ovx = d + 3 * n, *ovy = d + 4 * n, *ovz = d + 5 * n;
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        const REAL hx = hk * x[i], hy = hk * y[i], hz = hk * (-(REAL)2.0 * z[i]);
        const REAL mx = vx[i] + hx, my = vy[i] + hy, mz = vz[i] + hz;
        const REAL tx = h * (-c * (x[i] * z[i])), ty = h * (-c * (y[i] * z[i]));
        const REAL tz = h * ((REAL)1.0 * (bb * (z[i] * z[i]) + (REAL)1.0));
        const REAL f = (REAL)2.0 / ((REAL)1.0 + (tx * tx + ty * ty + tz * tz));
        const REAL sx = f * tx, sy = f * ty, sz = f * tz;
        const REAL px = mx + (my * tz - mz * ty), py = my + (mz * tx - mx * tz), pz = mz + (mx * ty - my * tx);
        const REAL wx = mx + (py * sz - pz * sy) + hx, wy = my + (pz * sx - px * sz) + hy;
        const REAL wz = mz + (px * sy - py * sx) + hz;
        ox[i] = x[i] + dt * wx; oy[i] = y[i] + dt * wy; oz[i] = z[i] + dt * wz;
        ovx[i] = wx; ovy[i] = wy; ovz[i] = wz;
    }
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 4194304;
    int steps = argc > 2 ? atoi(argv[2]) : 8;
    int reps = argc > 3 ? atoi(argv[3]) : 10;
    REAL *p0 = malloc(6 * n * sizeof(REAL)), *a = malloc(6 * n * sizeof(REAL));
    REAL *b = malloc(6 * n * sizeof(REAL));
    double *t = malloc(reps * sizeof(double));
#pragma omp parallel
    {
        int th = omp_get_thread_num(), nt = omp_get_num_threads();
        long per = (n + nt - 1) / nt, lo = th * per, hi = lo + per < n ? lo + per : n;
        for (int c = 0; c < 6; c++)
            for (long i = lo; i < hi; i++) {
                p0[c * n + i] = (REAL)(((i + c) * 7919) % 2000) / (REAL)1000.0 - (REAL)1.0;
                a[c * n + i] = b[c * n + i] = (REAL)0.0;
            }
        for (int r = -1; r < reps; r++) {
#pragma omp barrier
            double t0 = now_s();
            for (int k = 0; k < steps; k++) {
                int to_a = (steps - 1 - k) % 2 == 0;
                push(k == 0 ? p0 : (to_a ? b : a), to_a ? a : b, n, lo, hi);
            }
#pragma omp barrier
            if (th == 0 && r >= 0) t[r] = now_s() - t0;
        }
    }
    printf("%.4f\n", (double)n * steps / median(t, reps) / 1e9);
    fprintf(stderr, "pic_push n=%ld steps=%d reps=%d x[1]=%g\n", n, steps, reps, a[1]);
    return 0;
}
