// STREAM triad a = b + s*c (f32), grid-stride over n elements.
// Launch: a (out), b, c (in), n, s; work-groups of 256.
__kernel __attribute__((reqd_work_group_size(256, 1, 1)))
void triad(__global float *restrict a, __global const float *restrict b,
           __global const float *restrict c, const uint n, const float s) {
    const uint stride = get_global_size(0);
    for (uint i = get_global_id(0); i < n; i += stride) {
        a[i] = fma(s, c[i], b[i]);
    }
}
