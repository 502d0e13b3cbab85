//! The register-tiled GEMM engine shared by the `gemm` shaders and the
//! implicit-GEMM `conv2d` shaders: the Rust side of their launch geometry.
//!
//! A workgroup of `threads[0] x threads[1]` invocations computes a block
//! tile of `bm x bn` outputs (M rows by N columns of the product), each
//! invocation an 8 x 8 register tile; K advances in slabs of `bk` through
//! two workgroup buffers. Workgroups run along N in x and along M in y.
//! The shaders state the same constants (`BM`, `BN`, `BK`, the workgroup
//! size); the tests of each kernel check that they agree.

use crate::error::Result;
use crate::kernel::{Dispatch, groups_for};

/// The outputs of one invocation along M and along N.
pub const REGISTER_TILE: usize = 8;

/// A block tile of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTile {
    /// Rows of the product (M) per workgroup.
    pub bm: u32,
    /// Columns of the product (N) per workgroup.
    pub bn: u32,
    /// Depth (K) of one slab.
    pub bk: u32,
    /// Invocations along N (x) and along M (y).
    pub threads: [u32; 2],
}

impl BlockTile {
    /// The dispatch of `entry` over an `m x n` product.
    pub fn dispatch(&self, entry: &'static str, m: usize, n: usize) -> Result<Dispatch> {
        Ok(Dispatch {
            entry,
            groups: [groups_for(n, self.bn)?, groups_for(m, self.bm)?, 1],
            group_size: [self.threads[0], self.threads[1], 1],
            chunk: None,
        })
    }

    /// Invocations of one workgroup.
    pub fn invocations(&self) -> u32 {
        self.threads[0] * self.threads[1]
    }

    /// Bytes of workgroup memory of the two slab buffers, with `pad` reals
    /// added to each k-row of B, for reals of `real_bytes`.
    pub fn workgroup_bytes(&self, pad: u32, real_bytes: u32) -> u32 {
        2 * self.bk * (self.bm + self.bn + pad) * real_bytes
    }

    /// Workgroups over an `m x n` product.
    pub fn groups(&self, m: usize, n: usize) -> usize {
        m.div_ceil(self.bm as usize) * n.div_ceil(self.bn as usize)
    }

    /// Fused multiply-adds per value an invocation reads from workgroup
    /// memory: an 8 x 8 outer product per 8 + 8 values.
    pub fn fma_per_shared_read() -> f64 {
        (REGISTER_TILE * REGISTER_TILE) as f64 / (2 * REGISTER_TILE) as f64
    }
}

/// The value of `const NAME: u32 = VALUE` (WGSL, with or without the `u`
/// suffix) or `#define NAME VALUE` (OpenCL C) in `source`, for the tests
/// that tie a shader's constants to its [`BlockTile`].
#[cfg(test)]
pub fn shader_constant(source: &str, name: &str) -> Option<u32> {
    source.lines().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_prefix(&format!("const {name}: u32 = "))
            .or_else(|| l.strip_prefix(&format!("#define {name} ")))?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

/// `@workgroup_size(x, y, 1)` of entry point `entry`, and the
/// `reqd_work_group_size(x, y, 1)` of the OpenCL C kernel `entry`, in
/// `source`: the line before the entry's `fn`/`void`.
#[cfg(test)]
pub fn shader_group_size(source: &str, entry: &str) -> Option<[u32; 2]> {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines.iter().position(|l| {
        l.starts_with(&format!("fn {entry}(")) || l.starts_with(&format!("void {entry}("))
    })?;
    let attr = lines[..at].last()?;
    let open = attr.find("size(")? + "size(".len();
    let args: Vec<u32> = attr[open..]
        .split(')')
        .next()?
        .split(',')
        .map(|v| v.trim().parse().ok())
        .collect::<Option<_>>()?;
    match args[..] {
        [x, y, 1] => Some([x, y]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TILE: BlockTile = BlockTile {
        bm: 128,
        bn: 64,
        bk: 8,
        threads: [8, 16],
    };

    #[test]
    fn dispatch_covers_a_ragged_product() {
        let d = TILE.dispatch("e", 129, 65).unwrap();
        assert_eq!(d.groups, [2, 2, 1]);
        assert_eq!(d.group_size, [8, 16, 1]);
        assert_eq!(TILE.groups(129, 65), 4);
        // Every invocation holds an 8 x 8 tile of the block.
        assert_eq!(
            (TILE.bm * TILE.bn) as usize,
            TILE.invocations() as usize * REGISTER_TILE * REGISTER_TILE
        );
        assert_eq!(TILE.workgroup_bytes(4, 4), 2 * 8 * 196 * 4);
        assert_eq!(BlockTile::fma_per_shared_read(), 4.0);
    }

    #[test]
    fn shader_constants_are_read_from_either_language() {
        let wgsl = "const BM: u32 = 128u;\n@compute @workgroup_size(8, 16, 1)\nfn k(x: u32) {}";
        let cl = "#define BM 64 /* rows */\n__kernel __attribute__((reqd_work_group_size(16, 4, 1)))\nvoid k(uint n) {}";
        assert_eq!(shader_constant(wgsl, "BM"), Some(128));
        assert_eq!(shader_constant(cl, "BM"), Some(64));
        assert_eq!(shader_constant(cl, "BN"), None);
        assert_eq!(shader_group_size(wgsl, "k"), Some([8, 16]));
        assert_eq!(shader_group_size(cl, "k"), Some([16, 4]));
        assert_eq!(shader_group_size(cl, "other"), None);
    }
}
