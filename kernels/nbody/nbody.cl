// All-pairs accelerations with Plummer softening (f32). One work-item per
// body; bodies are staged through local memory 256 at a time. Padding slots
// are massless and far away, so they add exactly zero.
// Launch: x, y, z, m (in), ax, ay, az (out), n, eps2; global 256*ceil(n/256).
__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void nbody(__global const float *restrict x, __global const float *restrict y,
           __global const float *restrict z, __global const float *restrict m,
           __global float *restrict ax, __global float *restrict ay,
           __global float *restrict az, const uint n, const float eps2) {
    __local float4 tile[256];
    const uint i = get_global_id(0), l = get_local_id(0);
    float3 pi = (float3)(0.0f);
    if (i < n) pi = (float3)(x[i], y[i], z[i]);
    float3 acc = (float3)(0.0f);
    for (uint t = 0; t < n; t += 256) {
        const uint j = t + l;
        tile[l] = j < n ? (float4)(x[j], y[j], z[j], m[j]) : (float4)(1.0e3f, 1.0e3f, 1.0e3f, 0.0f);
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint k = 0; k < 256; k++) {
            const float4 b = tile[k];
            const float3 d = b.xyz - pi;
            const float r2 = fma(d.x, d.x, fma(d.y, d.y, fma(d.z, d.z, eps2)));
            const float s = b.w / (r2 * sqrt(r2));
            acc = fma(d, (float3)(s), acc);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < n) {
        ax[i] = acc.x;
        ay[i] = acc.y;
        az[i] = acc.z;
    }
}
