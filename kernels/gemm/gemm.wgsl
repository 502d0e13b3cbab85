// C = A * B, square row-major, n x n, in `real` (f32, or f64 where the
// harness runs the f64 variant: it rewrites the alias line).
//
// Register-tiled, double-buffered SGEMM/DGEMM (see README "GPU design"):
// a workgroup of 16 x 16 invocations computes a BM x BN = 128 x 128 tile of
// C, each invocation an 8 x 8 register tile: rows 4ty..4ty+3 and
// 64+4ty..64+4ty+3, columns 4tx..4tx+3 and 64+4tx..64+4tx+3, so that every
// shared-memory read is one vec4 (a warp reads 2 distinct A vectors, a
// broadcast, and 16 contiguous B vectors). K advances in slabs of BK = 4
// through two workgroup buffers (ping-pong): while a slab is multiplied,
// the next one is already loading from global memory into registers, is
// stored into the other buffer after the multiply, and one barrier per slab
// separates the two. A is stored transposed (As[k][row]) with its vec4
// index XOR-swizzled by 2k, which makes the transposing stores
// conflict-free without padding (padding does not fit 16 KiB in f64).
// Loads outside the matrix read zero and stores outside are skipped, so any
// n is correct.
// Launch: a, b (in), c (out), then Params; groups (ceil(n/128), ceil(n/128)).
alias real = f32;

struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read_write> c: array<real>;
@group(0) @binding(3) var<uniform> p: Params;

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 4u;
// vec4s per k-row of a slab, and per slab.
const AV: u32 = 32u;
const BV: u32 = 32u;
const SLAB: u32 = 128u;

// Two slabs each: As[buf][k][row / 4] (swizzled), Bs[buf][k][col / 4].
var<workgroup> As: array<vec4<real>, 256>;
var<workgroup> Bs: array<vec4<real>, 256>;

// The slot of rows 4v..4v+3 at k in an A slab: the XOR with 2k spreads the
// four k-rows a warp stores at once over all 32 banks.
fn a_slot(buf: u32, k: u32, v: u32) -> u32 {
    return buf * SLAB + k * AV + (v ^ (2u * k));
}

// The next slab into registers. Invocations 0..127 load A: element
// (row, k) = (tid / 4 + 32i, tid % 4) for i < 4, so a warp reads 8 rows x 4
// consecutive k (8 memory lines per load). Invocations 128..255 load B: row
// (tid - 128) / 32, columns 4 * ((tid - 128) % 32) + j, a warp reading 128
// consecutive reals.
fn load_slab(tid: u32, k0: u32, row0: u32, col0: u32, n: u32) -> vec4<real> {
    var v = vec4<real>(0.0);
    if (tid < 128u) {
        let k = k0 + tid % 4u;
        for (var i = 0u; i < 4u; i++) {
            let r = row0 + tid / 4u + 32u * i;
            if (r < n && k < n) {
                v[i] = a[r * n + k];
            }
        }
    } else {
        let t = tid - 128u;
        let k = k0 + t / 32u;
        let col = col0 + 4u * (t % 32u);
        for (var j = 0u; j < 4u; j++) {
            if (k < n && col + j < n) {
                v[j] = b[k * n + col + j];
            }
        }
    }
    return v;
}

fn store_slab(tid: u32, buf: u32, v: vec4<real>) {
    if (tid < 128u) {
        let k = tid % 4u;
        for (var i = 0u; i < 4u; i++) {
            let row = tid / 4u + 32u * i;
            As[a_slot(buf, k, row / 4u)][row % 4u] = v[i];
        }
    } else {
        let t = tid - 128u;
        Bs[buf * SLAB + (t / 32u) * BV + t % 32u] = v;
    }
}

@compute @workgroup_size(16, 16, 1)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>) {
    let n = p.n;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    // acc[2r + h]: row r of the register tile (r < 4: 4ty + r, else
    // 64 + 4ty + r - 4), columns 4tx.. (h = 0) or 64 + 4tx.. (h = 1).
    var acc: array<vec4<real>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4<real>(0.0);
    }
    let slabs = (n + BK - 1u) / BK;
    store_slab(tid, 0u, load_slab(tid, 0u, row0, col0, n));
    workgroupBarrier();
    for (var s = 0u; s < slabs; s++) {
        let buf = s & 1u;
        var next = vec4<real>(0.0);
        if (s + 1u < slabs) {
            next = load_slab(tid, (s + 1u) * BK, row0, col0, n);
        }
        for (var k = 0u; k < BK; k++) {
            let a0 = As[a_slot(buf, k, ty)];
            let a1 = As[a_slot(buf, k, 16u + ty)];
            let b0 = Bs[buf * SLAB + k * BV + tx];
            let b1 = Bs[buf * SLAB + k * BV + 16u + tx];
            acc[0] = fma(vec4<real>(a0.x), b0, acc[0]);
            acc[1] = fma(vec4<real>(a0.x), b1, acc[1]);
            acc[2] = fma(vec4<real>(a0.y), b0, acc[2]);
            acc[3] = fma(vec4<real>(a0.y), b1, acc[3]);
            acc[4] = fma(vec4<real>(a0.z), b0, acc[4]);
            acc[5] = fma(vec4<real>(a0.z), b1, acc[5]);
            acc[6] = fma(vec4<real>(a0.w), b0, acc[6]);
            acc[7] = fma(vec4<real>(a0.w), b1, acc[7]);
            acc[8] = fma(vec4<real>(a1.x), b0, acc[8]);
            acc[9] = fma(vec4<real>(a1.x), b1, acc[9]);
            acc[10] = fma(vec4<real>(a1.y), b0, acc[10]);
            acc[11] = fma(vec4<real>(a1.y), b1, acc[11]);
            acc[12] = fma(vec4<real>(a1.z), b0, acc[12]);
            acc[13] = fma(vec4<real>(a1.z), b1, acc[13]);
            acc[14] = fma(vec4<real>(a1.w), b0, acc[14]);
            acc[15] = fma(vec4<real>(a1.w), b1, acc[15]);
        }
        if (s + 1u < slabs) {
            store_slab(tid, buf ^ 1u, next);
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 8u; r++) {
        let row = row0 + 4u * ty + r + 60u * (r / 4u);
        if (row < n) {
            for (var h = 0u; h < 2u; h++) {
                let v = acc[2u * r + h];
                let col = col0 + 4u * tx + 64u * h;
                for (var j = 0u; j < 4u; j++) {
                    if (col + j < n) {
                        c[row * n + col + j] = v[j];
                    }
                }
            }
        }
    }
}
