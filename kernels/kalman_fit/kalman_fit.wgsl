// Batched Kalman filter fit of tracks (f32), one invocation per track.
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
// Grid-stride: each invocation fits tracks t, t + stride, ... so that any n
// runs within 65,535 workgroups.
// Launch: hx0, hx1, hy0, hy1 (in), params, chi2 (out), then Params; groups
// min(ceil(n/64), 65535).
struct Params {
    n: u32,
    layers: u32,
    spacing: f32,
    sigma: f32,
    scatter: f32,
    kappa: f32,
    qop_var: f32,
    split: u32,
}

@group(0) @binding(0) var<storage, read> hx0: array<f32>;
@group(0) @binding(1) var<storage, read> hx1: array<f32>;
@group(0) @binding(2) var<storage, read> hy0: array<f32>;
@group(0) @binding(3) var<storage, read> hy1: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: array<f32>;
@group(0) @binding(5) var<storage, read_write> chi2: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

// The hit (x, y) of track t on `layer`.
fn hit(layer: u32, t: u32) -> vec2<f32> {
    if (layer < p.split) {
        let i = layer * p.n + t;
        return vec2<f32>(hx0[i], hy0[i]);
    }
    let i = (layer - p.split) * p.n + t;
    return vec2<f32>(hx1[i], hy1[i]);
}

@compute @workgroup_size(64, 1, 1)
fn kalman_fit(@builtin(global_invocation_id) gid: vec3<u32>,
              @builtin(num_workgroups) groups: vec3<u32>) {
    let stride = groups.x * 64u;
    for (var t = gid.x; t < p.n; t += stride) {
        fit(t);
    }
}

// Fits track t.
fn fit(t: u32) {
    let n = p.n;
    let dz = p.spacing;
    let a = dz;
    let b = 0.5 * p.kappa * dz * dz;
    let c = p.kappa * dz;
    let s2 = p.sigma * p.sigma;
    let th2 = p.scatter * p.scatter;

    // Seed at plane 1.
    let h0 = hit(0u, t);
    let h1 = hit(1u, t);
    let x0 = h0.x;
    let y0 = h0.y;
    let x1 = h1.x;
    let y1 = h1.y;
    var x = array<f32, 5>(x1, y1, (x1 - x0) * (1.0 / dz), (y1 - y0) * (1.0 / dz), 0.0);
    let half_kdz = 0.5 * p.kappa * dz;
    let var_pos = p.sigma * p.sigma;
    let cov_ps = var_pos / dz;
    let var_slope = 2.0 * var_pos / (dz * dz) + th2;
    var cv: array<array<f32, 5>, 5>;
    for (var i = 0u; i < 5u; i++) {
        for (var j = 0u; j < 5u; j++) {
            cv[i][j] = 0.0;
        }
    }
    cv[0][0] = var_pos;
    cv[1][1] = var_pos;
    cv[0][2] = cov_ps;
    cv[2][0] = cov_ps;
    cv[1][3] = cov_ps;
    cv[3][1] = cov_ps;
    cv[2][2] = var_slope + half_kdz * half_kdz * p.qop_var;
    cv[3][3] = var_slope;
    cv[2][4] = half_kdz * p.qop_var;
    cv[4][2] = half_kdz * p.qop_var;
    cv[4][4] = p.qop_var;
    var chi = 0.0;

    for (var layer = 2u; layer < p.layers; layer++) {
        // Predict.
        x[0] = fma(a, x[2], fma(b, x[4], x[0]));
        x[1] = fma(a, x[3], x[1]);
        x[2] = fma(c, x[4], x[2]);
        for (var j = 0u; j < 5u; j++) {
            cv[0][j] = fma(a, cv[2][j], fma(b, cv[4][j], cv[0][j]));
            cv[1][j] = fma(a, cv[3][j], cv[1][j]);
            cv[2][j] = fma(c, cv[4][j], cv[2][j]);
        }
        for (var i = 0u; i < 5u; i++) {
            cv[i][0] = fma(a, cv[i][2], fma(b, cv[i][4], cv[i][0]));
            cv[i][1] = fma(a, cv[i][3], cv[i][1]);
            cv[i][2] = fma(c, cv[i][4], cv[i][2]);
        }
        cv[2][2] += th2;
        cv[3][3] += th2;

        // Update.
        let h = hit(layer, t);
        let r0 = h.x - x[0];
        let r1 = h.y - x[1];
        let s00 = cv[0][0] + s2;
        let s01 = cv[0][1];
        let s11 = cv[1][1] + s2;
        let inv = 1.0 / (s00 * s11 - s01 * s01);
        let i00 = s11 * inv;
        let i01 = -(s01 * inv);
        let i11 = s00 * inv;
        let row0 = cv[0];
        let row1 = cv[1];
        for (var i = 0u; i < 5u; i++) {
            let k0 = fma(cv[i][0], i00, cv[i][1] * i01);
            let k1 = fma(cv[i][0], i01, cv[i][1] * i11);
            x[i] = fma(k0, r0, fma(k1, r1, x[i]));
            for (var j = 0u; j < 5u; j++) {
                cv[i][j] = cv[i][j] - fma(k0, row0[j], k1 * row1[j]);
            }
        }
        let u0 = fma(i00, r0, i01 * r1);
        let u1 = fma(i01, r0, i11 * r1);
        chi += fma(r0, u0, r1 * u1);
    }
    for (var q = 0u; q < 5u; q++) {
        params[q * n + t] = x[q];
    }
    chi2[t] = chi;
}
