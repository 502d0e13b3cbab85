//! Counter-based random numbers for input generation.
//!
//! Inputs must be identical on every platform, every thread count and every
//! future version of the harness, so that results stay comparable. A
//! counter-based generator (value = mix(seed, stream, index)) gives that and
//! lets large inputs be generated in parallel: element `i` never depends on
//! element `i - 1`. The mixer is SplitMix64's finaliser (Steele, Lea and
//! Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014).

use rayon::prelude::*;

#[inline]
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 64 random bits for element `index` of stream `stream` under `seed`.
#[inline]
pub fn bits(seed: u64, stream: u64, index: u64) -> u64 {
    splitmix64(splitmix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)) ^ index)
}

/// A uniform f64 in [0, 1) with 53 random bits.
#[inline]
pub fn uniform(seed: u64, stream: u64, index: u64) -> f64 {
    (bits(seed, stream, index) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `n` f32 values uniform in [lo, hi), generated in parallel (`lo < hi`).
/// The f64 value lies below `hi`, but rounding it to f32 can reach `hi`;
/// such a value becomes the largest f32 below `hi`, so the range holds.
pub fn uniform_f32(seed: u64, stream: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let span = (hi - lo) as f64;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let v = (lo as f64 + span * uniform(seed, stream, i as u64)) as f32;
            if v < hi { v } else { hi.next_down().max(lo) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_f32_stays_below_its_upper_end() {
        // [1, 1 + 2^-23): the only f32 values are 1 and 1 + 2^-23, and about
        // half of the f64 draws round up to the upper end.
        let hi = 1.0f32 + f32::EPSILON;
        let v = uniform_f32(7, 0, 10_000, 1.0, hi);
        assert!(v.iter().all(|&x| (1.0..hi).contains(&x)));
        // A wide range keeps its spread.
        let v = uniform_f32(7, 1, 10_000, -1.0, 1.0);
        assert!(v.iter().all(|&x| (-1.0..1.0).contains(&x)));
        assert!(v.iter().any(|&x| x > 0.999) && v.iter().any(|&x| x < -0.999));
    }

    #[test]
    fn same_seed_same_values_and_streams_differ() {
        let a = uniform_f32(42, 1, 1000, -1.0, 1.0);
        let b = uniform_f32(42, 1, 1000, -1.0, 1.0);
        let c = uniform_f32(42, 2, 1000, -1.0, 1.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&x| (-1.0..1.0).contains(&x)));
    }

    #[test]
    fn uniform_mean_is_near_half() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| uniform(7, 0, i)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn values_are_pinned() {
        // The inputs of every stored result depend on these bits: a change
        // here silently makes old and new results incomparable.
        assert_eq!(bits(1, 2, 3), 0x8052_5dba_20de_e0bb);
    }
}
