// 2D convolution, NCHW, f32: y[n,o,y,x] = sum_{c,ky,kx} x[n,c,y+ky-r,x+kx-r]
// w[o,c,ky,kx], r = k/2, zero padding, stride 1, k <= 5.
// Each workgroup computes a 16 x 16 tile of output pixels for 8 output
// channels of one image: per input channel it stages the (16+k-1)^2 input
// tile (with the zero halo) and the 8 x k x k weights in workgroup memory,
// and each invocation accumulates its pixel for the 8 channels (two vec4).
// Launch: x (in), wt (in), y (out), then Params; workgroups of 16 x 16,
// groups (ceil(w/16), ceil(h/16), n * ceil(cout/8)).
struct Params {
    n: u32,
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    k: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> tile: array<f32, 400>;
var<workgroup> wsh: array<f32, 200>;

@compute @workgroup_size(16, 16, 1)
fn conv2d(@builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32,
          @builtin(workgroup_id) wid: vec3<u32>) {
    let groups_oc = (p.cout + 7u) / 8u;
    let img = wid.z / groups_oc;
    let oc0 = (wid.z % groups_oc) * 8u;
    let k = p.k;
    let kk = k * k;
    let r = k / 2u;
    let tw = 16u + k - 1u;
    let ox = wid.x * 16u + lid.x;
    let oy = wid.y * 16u + lid.y;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var c = 0u; c < p.cin; c++) {
        let plane = (img * p.cin + c) * p.h;
        for (var t = li; t < tw * tw; t += 256u) {
            let iy = i32(wid.y * 16u + t / tw) - i32(r);
            let ix = i32(wid.x * 16u + t % tw) - i32(r);
            var v = 0.0;
            if (iy >= 0 && ix >= 0 && iy < i32(p.h) && ix < i32(p.w)) {
                v = x[(plane + u32(iy)) * p.w + u32(ix)];
            }
            tile[t] = v;
        }
        for (var t = li; t < 8u * kk; t += 256u) {
            let oc = oc0 + t / kk;
            var v = 0.0;
            if (oc < p.cout) {
                v = wt[(oc * p.cin + c) * kk + t % kk];
            }
            wsh[t] = v;
        }
        workgroupBarrier();
        for (var ky = 0u; ky < k; ky++) {
            for (var kx = 0u; kx < k; kx++) {
                let v = vec4<f32>(tile[(lid.y + ky) * tw + lid.x + kx]);
                let q = ky * k + kx;
                acc0 = fma(v, vec4<f32>(wsh[q], wsh[kk + q], wsh[2u * kk + q], wsh[3u * kk + q]), acc0);
                acc1 = fma(v, vec4<f32>(wsh[4u * kk + q], wsh[5u * kk + q], wsh[6u * kk + q], wsh[7u * kk + q]), acc1);
            }
        }
        workgroupBarrier();
    }
    if (ox < p.w && oy < p.h) {
        let px = oy * p.w + ox;
        let hw = p.h * p.w;
        for (var o = 0u; o < 8u; o++) {
            let oc = oc0 + o;
            if (oc < p.cout) {
                var v: f32;
                if (o < 4u) {
                    v = acc0[o];
                } else {
                    v = acc1[o - 4u];
                }
                y[(img * p.cout + oc) * hw + px] = v;
            }
        }
    }
}
