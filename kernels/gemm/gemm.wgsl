// C = A * B, square row-major, n x n, in `real` (f32, or f64 where the
// harness runs the f64 variant: it rewrites the alias line).
// Each workgroup of 16 x 16 invocations computes a 64 x 64 tile of C, each
// invocation 4 x 4 elements strided by 16 (rows ty + 16i, columns tx + 16j)
// so that shared-memory reads and global writes are contiguous across
// invocations. K advances in slabs of 16 staged through workgroup memory.
// Launch: a, b (in), c (out), then Params; groups (ceil(n/64), ceil(n/64)).
alias real = f32;

struct Params {
    n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<real>;
@group(0) @binding(1) var<storage, read> b: array<real>;
@group(0) @binding(2) var<storage, read_write> c: array<real>;
@group(0) @binding(3) var<uniform> p: Params;

const TS: u32 = 64u;
const TK: u32 = 16u;

// As[k][row], Bs[k][col]
var<workgroup> As: array<real, 1024>;
var<workgroup> Bs: array<real, 1024>;

@compute @workgroup_size(16, 16, 1)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(workgroup_id) wid: vec3<u32>) {
    let n = p.n;
    let row0 = wid.y * TS;
    let col0 = wid.x * TS;
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    var acc: array<real, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }
    for (var k0 = 0u; k0 < n; k0 += TK) {
        for (var l = 0u; l < 4u; l++) {
            let e = tid + l * 256u;
            // A slab: 64 rows x 16 k, read along k.
            let ar = e / TK;
            let ak = e % TK;
            var av: real = 0.0;
            if (row0 + ar < n && k0 + ak < n) {
                av = a[(row0 + ar) * n + k0 + ak];
            }
            As[ak * TS + ar] = av;
            // B slab: 16 k x 64 columns, read along columns.
            let bk = e / TS;
            let bc = e % TS;
            var bv: real = 0.0;
            if (k0 + bk < n && col0 + bc < n) {
                bv = b[(k0 + bk) * n + col0 + bc];
            }
            Bs[bk * TS + bc] = bv;
        }
        workgroupBarrier();
        for (var k = 0u; k < TK; k++) {
            var ra: array<real, 4>;
            var rb: array<real, 4>;
            for (var i = 0u; i < 4u; i++) {
                ra[i] = As[k * TS + ty + 16u * i];
                rb[i] = Bs[k * TS + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(ra[i], rb[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = row0 + ty + 16u * i;
            let col = col0 + tx + 16u * j;
            if (r < n && col < n) {
                c[r * n + col] = acc[i * 4u + j];
            }
        }
    }
}
