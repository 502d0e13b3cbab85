// 2D convolution, NCHW, f32: y[n,o,y,x] = sum_{c,ky,kx} x[n,c,y+ky-r,x+kx-r]
// w[o,c,ky,kx], r = k/2, zero padding, stride 1, k <= 5.
// Each work-group computes a 16 x 16 tile of output pixels for 8 output
// channels of one image: per input channel it stages the (16+k-1)^2 input
// tile (with the zero halo) and the 8 x k x k weights in local memory, and
// each work-item accumulates its pixel for the 8 channels (two float4).
// Launch: x (in), wt (in), y (out), n, cin, cout, h, w, k; work-groups of
// 16 x 16, global (16*ceil(w/16), 16*ceil(h/16), n * ceil(cout/8)).
__kernel __attribute__((reqd_work_group_size(16, 16, 1)))
void conv2d(__global const float *restrict x, __global const float *restrict wt,
            __global float *restrict y, const uint n, const uint cin, const uint cout,
            const uint h, const uint w, const uint k) {
    __local float tile[400];
    __local float wsh[200];
    const uint lx = get_local_id(0), ly = get_local_id(1), li = ly * 16 + lx;
    const uint gx = get_group_id(0), gy = get_group_id(1), gz = get_group_id(2);
    const uint groups_oc = (cout + 7) / 8;
    const uint img = gz / groups_oc, oc0 = (gz % groups_oc) * 8;
    const uint kk = k * k, r = k / 2, tw = 16 + k - 1;
    const uint ox = gx * 16 + lx, oy = gy * 16 + ly;
    float4 acc0 = (float4)(0.0f), acc1 = (float4)(0.0f);
    for (uint c = 0; c < cin; c++) {
        const uint plane = (img * cin + c) * h;
        for (uint t = li; t < tw * tw; t += 256) {
            const int iy = (int)(gy * 16 + t / tw) - (int)r;
            const int ix = (int)(gx * 16 + t % tw) - (int)r;
            tile[t] = (iy >= 0 && ix >= 0 && iy < (int)h && ix < (int)w)
                          ? x[(plane + (uint)iy) * w + (uint)ix] : 0.0f;
        }
        for (uint t = li; t < 8 * kk; t += 256) {
            const uint oc = oc0 + t / kk;
            wsh[t] = oc < cout ? wt[(oc * cin + c) * kk + t % kk] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint ky = 0; ky < k; ky++) {
            for (uint kx = 0; kx < k; kx++) {
                const float4 v = (float4)(tile[(ly + ky) * tw + lx + kx]);
                const uint q = ky * k + kx;
                acc0 = fma(v, (float4)(wsh[q], wsh[kk + q], wsh[2 * kk + q], wsh[3 * kk + q]), acc0);
                acc1 = fma(v, (float4)(wsh[4 * kk + q], wsh[5 * kk + q], wsh[6 * kk + q], wsh[7 * kk + q]), acc1);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (ox < w && oy < h) {
        const uint px = oy * w + ox, hw = h * w;
        const float a[8] = {acc0.x, acc0.y, acc0.z, acc0.w, acc1.x, acc1.y, acc1.z, acc1.w};
        for (uint o = 0; o < 8; o++)
            if (oc0 + o < cout) y[(img * cout + oc0 + o) * hw + px] = a[o];
    }
}
