// Batched Kalman filter fit of tracks (f32), one work-item per track.
// State (x, y, tx, ty, q/p) at planes z = layer * spacing in a uniform
// field along y, propagated with the parabolic expansion of the helix:
// x' = x + tx dz + kappa q/p dz^2/2, tx' = tx + kappa q/p dz, y' = y + ty dz.
// Seeded from hits 0 and 1 (q/p prior of variance qop_var), then predict
// (C = F C F^T + Q, scattering on tx, ty) and update (2D hit, H = [I2 0]) on
// every further plane; the 5x5 covariance lives in registers.
// Hits are structure-of-arrays, track-fastest (hx[layer * n + t]), bound
// in two parts: layers below `split` in hx0/hy0, the others in hx1/hy1
// (each part stays under a 128 MiB storage binding);
// outputs params[p * n + t] and chi2[t].
// Grid-stride: each work-item fits tracks t, t + global size, ... so that
// any n runs within 65,535 work-groups.
// Launch: hx0, hx1, hy0, hy1 (in), params, chi2 (out), n, layers, spacing,
// sigma, scatter, kappa, qop_var, split; global 64*min(ceil(n/64), 65535).

// The hit (x, y) of track t on `layer`.
#define HIT(arr, layer) \
    ((layer) < split ? arr##0[(layer) * n + t] : arr##1[((layer) - split) * n + t])

// Fits track t.
static void fit(const uint t, __global const float *restrict hx0,
                __global const float *restrict hx1, __global const float *restrict hy0,
                __global const float *restrict hy1, __global float *restrict params,
                __global float *restrict chi2, const uint n, const uint layers,
                const float spacing, const float sigma, const float scatter,
                const float kappa, const float qop_var, const uint split) {
    const float dz = spacing, a = dz, b = 0.5f * kappa * dz * dz, c = kappa * dz;
    const float s2 = sigma * sigma, th2 = scatter * scatter;

    // Seed at plane 1.
    const float x0 = HIT(hx, 0u), y0 = HIT(hy, 0u), x1 = HIT(hx, 1u), y1 = HIT(hy, 1u);
    float x[5] = {x1, y1, (x1 - x0) * (1.0f / dz), (y1 - y0) * (1.0f / dz), 0.0f};
    const float half_kdz = 0.5f * kappa * dz;
    const float var_pos = sigma * sigma, cov_ps = var_pos / dz;
    const float var_slope = 2.0f * var_pos / (dz * dz) + th2;
    float cv[5][5];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) cv[i][j] = 0.0f;
    cv[0][0] = var_pos;
    cv[1][1] = var_pos;
    cv[0][2] = cv[2][0] = cov_ps;
    cv[1][3] = cv[3][1] = cov_ps;
    cv[2][2] = var_slope + half_kdz * half_kdz * qop_var;
    cv[3][3] = var_slope;
    cv[2][4] = cv[4][2] = half_kdz * qop_var;
    cv[4][4] = qop_var;
    float chi = 0.0f;

    for (uint layer = 2; layer < layers; layer++) {
        // Predict.
        x[0] = fma(a, x[2], fma(b, x[4], x[0]));
        x[1] = fma(a, x[3], x[1]);
        x[2] = fma(c, x[4], x[2]);
        for (int j = 0; j < 5; j++) {
            cv[0][j] = fma(a, cv[2][j], fma(b, cv[4][j], cv[0][j]));
            cv[1][j] = fma(a, cv[3][j], cv[1][j]);
            cv[2][j] = fma(c, cv[4][j], cv[2][j]);
        }
        for (int i = 0; i < 5; i++) {
            cv[i][0] = fma(a, cv[i][2], fma(b, cv[i][4], cv[i][0]));
            cv[i][1] = fma(a, cv[i][3], cv[i][1]);
            cv[i][2] = fma(c, cv[i][4], cv[i][2]);
        }
        cv[2][2] += th2;
        cv[3][3] += th2;

        // Update.
        const float r0 = HIT(hx, layer) - x[0];
        const float r1 = HIT(hy, layer) - x[1];
        const float s00 = cv[0][0] + s2, s01 = cv[0][1], s11 = cv[1][1] + s2;
        const float inv = 1.0f / (s00 * s11 - s01 * s01);
        const float i00 = s11 * inv, i01 = -(s01 * inv), i11 = s00 * inv;
        float row0[5], row1[5];
        for (int j = 0; j < 5; j++) {
            row0[j] = cv[0][j];
            row1[j] = cv[1][j];
        }
        for (int i = 0; i < 5; i++) {
            const float k0 = fma(cv[i][0], i00, cv[i][1] * i01);
            const float k1 = fma(cv[i][0], i01, cv[i][1] * i11);
            x[i] = fma(k0, r0, fma(k1, r1, x[i]));
            for (int j = 0; j < 5; j++) cv[i][j] = cv[i][j] - fma(k0, row0[j], k1 * row1[j]);
        }
        const float u0 = fma(i00, r0, i01 * r1), u1 = fma(i01, r0, i11 * r1);
        chi += fma(r0, u0, r1 * u1);
    }
    for (int q = 0; q < 5; q++) params[q * n + t] = x[q];
    chi2[t] = chi;
}

__kernel __attribute__((reqd_work_group_size(64, 1, 1)))
void kalman_fit(__global const float *restrict hx0, __global const float *restrict hx1,
                __global const float *restrict hy0, __global const float *restrict hy1,
                __global float *restrict params, __global float *restrict chi2,
                const uint n, const uint layers, const float spacing, const float sigma,
                const float scatter, const float kappa, const float qop_var,
                const uint split) {
    const uint stride = get_global_size(0);
    for (uint t = get_global_id(0); t < n; t += stride)
        fit(t, hx0, hx1, hy0, hy1, params, chi2, n, layers, spacing, sigma, scatter, kappa,
            qop_var, split);
}
