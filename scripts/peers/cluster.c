/* OpenMP peer of hetbench's cluster: the same calorimeter cell clustering
 * (|E| > 2 sigma joins, |E| > 4 sigma seeds, 8-connected, phi wraps; label =
 * smallest cell index of a seeded component, else 0xffffffff) by the same
 * strip-parallel union-find: each thread labels a band of rows with a
 * sequential union-find (per row the thresholds, vectorised, with a bit per
 * cell that takes part, then the joins of the set bits, with the
 * Wu-Otoo-Suzuki decision tree), the band boundaries are joined, and each
 * band resolves its labels in place. The input is hetbench's own generator
 * (SplitMix64 counter-based, the same Gaussian noise and showers), so the
 * labels are the same; stderr gives the clusters and clustered cells, which
 * hetbench's verification detail also gives.
 * Build: cc -O3 -march=native -ffp-contract=off -fopenmp cluster.c -lm
 * (no contraction: the generator must round as hetbench's does)
 * Usage: cluster NETA NPHI SHOWERS REPS [SEED] -> prints the median Gcells/s. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "common.h"

#define NONE 0xffffffffu
#define FLAG 0x80000000u
#define MASK 0x7fffffffu
#define REACH 6
static const double TAU = 6.283185307179586, SIGMA0 = 50.0, ETA_MAX = 2.5, E_MIN = 1e3,
                    E_MAX = 1e5, EM_FRACTION = 0.6, LAMBDA_EM = 0.6, LAMBDA_HAD = 1.5;

/* src/rng.rs */
static uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static uint64_t bits(uint64_t seed, uint64_t stream, uint64_t i) {
    return splitmix64(splitmix64(seed ^ stream * 0xD1B54A32D192ED03ull) ^ i);
}
static double uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return (double)(bits(seed, stream, i) >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct { double eta, phi, energy, lambda; } shower;

/* Cluster::generate in src/kernels/cluster.rs, operation for operation. */
static void generate(long neta, long nphi, long nsh, uint64_t seed, float *e, float *s) {
    shower *sh = malloc(nsh * sizeof(shower));
    for (long j = 0; j < nsh; j++) {
        sh[j].eta = uniform(seed, 3, j) * (double)neta;
        sh[j].phi = uniform(seed, 4, j) * (double)nphi;
        sh[j].energy = E_MIN * pow(E_MAX / E_MIN, uniform(seed, 5, j));
        sh[j].lambda = uniform(seed, 6, j) < EM_FRACTION ? LAMBDA_EM : LAMBDA_HAD;
    }
    /* The showers reaching each row, in shower order (CSR). */
    long *start = calloc(neta + 1, sizeof(long));
    for (long j = 0; j < nsh; j++) {
        long r0 = (long)floor(sh[j].eta);
        for (long r = r0 - REACH < 0 ? 0 : r0 - REACH; r <= r0 + REACH && r < neta; r++) start[r + 1]++;
    }
    for (long r = 0; r < neta; r++) start[r + 1] += start[r];
    long *fill = malloc(neta * sizeof(long)), *list = malloc((start[neta] + 1) * sizeof(long));
    memcpy(fill, start, neta * sizeof(long));
    for (long j = 0; j < nsh; j++) {
        long r0 = (long)floor(sh[j].eta);
        for (long r = r0 - REACH < 0 ? 0 : r0 - REACH; r <= r0 + REACH && r < neta; r++) list[fill[r]++] = j;
    }
    long span = 2 * REACH + 1 < nphi ? 2 * REACH + 1 : nphi;
#pragma omp parallel
    {
        double *acc = malloc(nphi * sizeof(double));
#pragma omp for schedule(static)
        for (long r = 0; r < neta; r++) {
            double eta = (((double)r + 0.5) / (double)neta * 2.0 - 1.0) * ETA_MAX, x = eta / ETA_MAX;
            for (long c = 0; c < nphi; c++) {
                long i = r * nphi + c;
                double jitter = 0.8 + 0.4 * uniform(seed, 1, i);
                s[i] = (float)(SIGMA0 * (1.0 + 0.5 * (x * x)) * jitter);
                double u1 = 1.0 - uniform(seed, 2, 2 * i), u2 = uniform(seed, 2, 2 * i + 1);
                acc[c] = (double)s[i] * (sqrt(-2.0 * log(u1)) * cos(TAU * u2));
            }
            for (long q = start[r]; q < start[r + 1]; q++) {
                const shower *h = &sh[list[q]];
                double deta = (double)r + 0.5 - h->eta;
                long c0 = (long)floor(h->phi) - REACH;
                for (long k = 0; k < span; k++) {
                    long c = ((c0 + k) % nphi + nphi) % nphi;
                    double d = (double)c + 0.5 - h->phi;
                    double dphi = d - (double)nphi * round(d / (double)nphi);
                    double rr = sqrt(deta * deta + dphi * dphi);
                    acc[c] += h->energy * exp(-rr / h->lambda) / (TAU * h->lambda * h->lambda);
                }
            }
            for (long c = 0; c < nphi; c++) e[r * nphi + c] = (float)acc[c];
        }
        free(acc);
    }
    free(sh); free(start); free(fill); free(list);
}

/* Band-local union-find: lab holds global indices, base is the band's first. */
static inline long find_local(uint32_t *lab, long base, long x) {
    for (;;) {
        long p = (long)(lab[x] & MASK) - base;
        if (p == x) return x;
        long gp = (long)(lab[p] & MASK) - base;
        lab[x] = (uint32_t)(gp + base);
        x = gp;
    }
}
static inline void union_local(uint32_t *lab, long base, long x, long y) {
    long rx = find_local(lab, base, x), ry = find_local(lab, base, y);
    if (rx == ry) return;
    long lo = rx < ry ? rx : ry, hi = rx < ry ? ry : rx;
    uint32_t flag = lab[hi] & FLAG;
    lab[hi] = (uint32_t)(lo + base);
    lab[lo] |= flag;
}
/* Joins (r, c), which takes part, with d (left) and a, b, cr (the row
 * above); the left of column 0 is joined at the end of the row. */
static inline void join_before(uint32_t *lab, long base, long w, long r, long c) {
    long k = r * w + c;
    int left = c > 0 && lab[k - 1] != NONE;
    if (r == 0) {
        if (left) union_local(lab, base, k, k - 1);
        return;
    }
    long up = k - w, cl = c == 0 ? w - 1 : c - 1, cr = c + 1 == w ? 0 : c + 1;
    long a = up - c + cl, cc = up - c + cr;
    if (c == 0 || c + 1 == w) {
        if (left) union_local(lab, base, k, k - 1);
        if (lab[a] != NONE) union_local(lab, base, k, a);
        if (lab[up] != NONE) union_local(lab, base, k, up);
        if (lab[cc] != NONE) union_local(lab, base, k, cc);
    } else if (lab[up] != NONE) {
        union_local(lab, base, k, up);
    } else {
        if (lab[cc] != NONE) union_local(lab, base, k, cc);
        if (lab[a] != NONE) union_local(lab, base, k, a);
        else if (left) union_local(lab, base, k, k - 1);
    }
}

/* Phase 1, one band: per row, the thresholds (branch-free, vectorised by
 * GCC) with a bit per cell that takes part, then the joins of the set bits. */
static void label_band(const float *restrict e, const float *restrict s, long w, long rows,
                       long base, uint32_t *restrict lab, float tseed, float tcell, uint64_t *bm) {
    long wpr = (w + 63) / 64;
    for (long r = 0; r < rows; r++) {
        long row = r * w;
        for (long c0 = 0; c0 < w; c0 += 64) {
            long c1 = c0 + 64 < w ? c0 + 64 : w;
            uint64_t m = 0;
            for (long c = c0; c < c1; c++) {
                long k = row + c;
                float a = fabsf(e[k]);
                uint32_t on = a > tcell * s[k];
                uint32_t off = on - 1u, flag = (uint32_t)(a > tseed * s[k]) << 31;
                lab[k] = ((uint32_t)(base + k) | flag) | off;
                m |= (uint64_t)on << (c - c0);
            }
            bm[r * wpr + c0 / 64] = m;
        }
        for (long c0 = 0; c0 < w; c0 += 64) {
            uint64_t m = bm[r * wpr + c0 / 64];
            while (m) { long c = c0 + __builtin_ctzll(m); m &= m - 1; join_before(lab, base, w, r, c); }
        }
        if (w > 1 && lab[row] != NONE && lab[row + w - 1] != NONE) union_local(lab, base, row, row + w - 1);
    }
}

static long find_global(const uint32_t *lab, long x) {
    for (;;) {
        long p = lab[x] & MASK;
        if (p == x) return x;
        x = p;
    }
}

static void label(const float *e, const float *s, long neta, long w, float tseed, float tcell,
                  int bands, uint32_t *lab, long *relinked, long *finals, uint64_t *bm) {
    if (bands > neta) bands = (int)neta;
    long band_rows = (neta + bands - 1) / bands, chunk = band_rows * w, n = neta * w;
    long nb = (neta + band_rows - 1) / band_rows;
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        long r0 = b * band_rows, rows = r0 + band_rows < neta ? band_rows : neta - r0;
        label_band(e + r0 * w, s + r0 * w, w, rows, r0 * w, lab + r0 * w, tseed, tcell, bm + r0 * ((w + 63) / 64));
    }
    /* Phase 2: join each band's first row with the row above; only roots
     * change. Phase 3: the final label of each relinked root. */
    long nrel = 0;
    for (long r0 = band_rows; r0 < neta; r0 += band_rows)
        for (long c = 0; c < w; c++) {
            long k = r0 * w + c;
            if (lab[k] == NONE) continue;
            long cl = c == 0 ? w - 1 : c - 1, cr = c + 1 == w ? 0 : c + 1;
            long nbr[3] = {k - w, k - w - c + cl, k - w - c + cr};
            int edge = c == 0 || c + 1 == w;
            for (int q = 0; q < 3; q++) {
                long m = nbr[q];
                if (lab[m] == NONE || (q > 0 && !edge && lab[k - w] != NONE)) continue;
                long rx = find_global(lab, k), ry = find_global(lab, m);
                if (rx == ry) continue;
                long lo = rx < ry ? rx : ry, hi = rx < ry ? ry : rx;
                uint32_t flag = lab[hi] & FLAG;
                lab[hi] = (uint32_t)lo;
                lab[lo] |= flag;
                relinked[nrel++] = hi;
            }
        }
    for (long q = 0; q < nrel; q++) {
        long root = find_global(lab, relinked[q]);
        finals[q] = lab[root] & FLAG ? (uint32_t)root | FLAG : NONE;
    }
    for (long q = 0; q < nrel; q++) lab[relinked[q]] = (uint32_t)finals[q];
    /* Phase 4: each band resolves its cells (the set bits) in place, in order. */
#pragma omp parallel for schedule(static)
    for (long b = 0; b < nb; b++) {
        long base = b * chunk, len = base + chunk < n ? chunk : n - base;
        uint32_t *l = lab + base;
        long wpr = (w + 63) / 64, rows = len / w;
        for (long q = 0; q < rows * wpr; q++) {
            uint64_t m = bm[b * band_rows * wpr + q];
            long k0 = (q / wpr) * w + (q % wpr) * 64;
            while (m) {
                long k = k0 + __builtin_ctzll(m); m &= m - 1;
                uint32_t v = l[k];
                if (v == NONE) continue; /* a root that phase 3 found in no cluster */
                long p = v & MASK;
                if (p == base + k) l[k] = v & FLAG ? (uint32_t)p : NONE;
                else if (v & FLAG) l[k] = (uint32_t)p;
                else l[k] = l[p - base];
            }
        }
    }
}

int main(int argc, char **argv) {
    long neta = argc > 1 ? atol(argv[1]) : 2048, nphi = argc > 2 ? atol(argv[2]) : 2048;
    long nsh = argc > 3 ? atol(argv[3]) : 8192;
    int reps = argc > 4 ? atoi(argv[4]) : 20;
    uint64_t seed = argc > 5 ? strtoull(argv[5], 0, 10) : 42;
    long n = neta * nphi;
    float *e = malloc(n * 4), *s = malloc(n * 4);
    uint32_t *lab = malloc(n * 4), *one = malloc(n * 4);
    uint64_t *bm = malloc(neta * ((nphi + 63) / 64) * 8);
    int threads = omp_get_max_threads();
    /* At most 3 relinks per boundary cell. */
    long *relinked = malloc((3 * nphi * (long)threads + 1) * sizeof(long));
    long *finals = malloc((3 * nphi * (long)threads + 1) * sizeof(long));
    generate(neta, nphi, nsh, seed, e, s);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) lab[i] = 0; /* first touch by the bands' threads */
    double *t = malloc(reps * sizeof(double));
    for (int rep = -1; rep < reps; rep++) {
        double t0 = now_s();
        label(e, s, neta, nphi, 4.0f, 2.0f, threads, lab, relinked, finals, bm);
        if (rep >= 0) t[rep] = now_s() - t0;
    }
    /* The bands must not change the labels: compare with one band. */
    label(e, s, neta, nphi, 4.0f, 2.0f, 1, one, relinked, finals, bm);
    long clusters = 0, clustered = 0, differ = 0;
    for (long i = 0; i < n; i++) {
        clusters += lab[i] == (uint32_t)i;
        clustered += lab[i] != NONE;
        differ += lab[i] != one[i];
    }
    printf("%.4f\n", (double)n / median(t, reps) / 1e9);
    fprintf(stderr, "cluster %ldx%ld showers=%ld seed=%llu, %d threads: %ld clusters, %ld cells clustered, %ld labels differ from one band\n",
            neta, nphi, nsh, (unsigned long long)seed, threads, clusters, clustered, differ);
    return differ != 0;
}
