//! The jet tagger as hls4ml builds it: its layer semantics bit for bit.
//!
//! hls4ml turns a Keras model into HLS C++ over its `nnet_utils`
//! templates; what the FPGA computes is what those templates compute with
//! the types hls4ml writes into the project. The generic `Scalar` path of
//! the other kernels (one type, exact accumulators, one cast) cannot say
//! that: hls4ml casts every product and every partial sum to the dense
//! layer's `accum_t`, and its softmax reads lookup tables of their own
//! types, indexed by the top bits of an unsigned normalised input. So this
//! module emulates the network on raw integers, each cast through the
//! [`Format`] (or [`UFixed`]) hls4ml would declare, in the templates'
//! order:
//!
//! - dense (`nnet_dense_latency.h`, `dense_latency`, io_parallel, Strategy
//!   Latency): `mult = accum_t(x * w)` for every product, `acc =
//!   accum_t(b)`, `acc += mult` in input order (each sum assigned back to
//!   `accum_t`), then `res = result_t(acc)`;
//! - ReLU (`nnet_activation.h`, `relu`): `x > 0 ? x : 0`;
//! - softmax (`nnet_activation.h`, `softmax_stable`, the default
//!   implementation): `x_max` by a balanced `reduce`,
//!   `d_i = inp_norm_t(x_max - x_i)`,
//!   `exp_res_i = accum_t(exp_table[top N bits of d_i])`,
//!   `exp_sum = inv_inp_t(reduce(+))`,
//!   `res_i = result_t(exp_res_i * invert_table[top N bits of exp_sum])`,
//!   N = ceil(log2 table_size); the tables as `init_exp_table`
//!   (`exp_table_t(expf(-x))` at the value the index's bits stand for) and
//!   `init_invert_table` (`inv_table_t(1.0f / x)`) build them.
//!
//! The types ([`NetConfig::hls4ml_default`]) are those hls4ml
//! [`HLS4ML_VERSION`] writes for `config_from_keras_model(model,
//! granularity='model', default_precision=P)` with P the card's format:
//! every `input_t`, `weight_t`, `bias_t` and `result_t` is P, and so is
//! the dense layers' `accum_t` (the layer's `_set_accum_t` takes the model
//! default: nothing wider unless the config says so, which
//! [`NetConfig::with_accum`] models). The softmax keeps its attribute
//! defaults (`fpga_backend.py`): implementation `stable`, `table_size`
//! 1024, `exp_table_t`, `inv_table_t` and `inv_inp_t` `ap_fixed<18,8,AP_RND,
//! AP_SAT>`; its `accum_t` is the model default too (`_set_accum_t` runs
//! before the attribute defaults, and the config template writes
//! `accum_t.name`); `inp_norm_t` is `ap_ufixed<W-1,I-1>` of its input's
//! `ap_fixed<W,I>` and the exp table is at most 2^(W-1) long
//! (`core_templates.py`), the table at most 2^min(W, inv_table_t's W)
//! (`fix_softmax_table_size.py`). Weights and biases are quantised from the
//! text hls4ml's writer prints (`{:.F f}`, F the type's fraction bits,
//! `WeightVariable.update_precision`), inputs from `float` as its test
//! bench reads them.
//!
//! `tests/hls4ml_jet.rs` compiles `tests/hls4ml/jet_tagger.cpp` (the same
//! network over the wheel's own `nnet_utils`) with g++ and compares the
//! tables, logits and probabilities bit for bit.

use crate::error::{Error, Result};
use crate::fpga::fixed::{Format, o, q};

use super::{DIMS, LAYER_OFFSETS, WEIGHT_COUNT};

/// The hls4ml release whose templates and configuration defaults this
/// module follows (the wheel `scripts/check-ap-fixed.sh` pins).
pub const HLS4ML_VERSION: &str = "1.3.0";

/// hls4ml's default `table_size` for activations (`fpga_backend.py`).
pub const DEFAULT_TABLE_SIZE: usize = 1024;

const FEATURES: usize = DIMS[0];
const CLASSES: usize = DIMS[4];

/// `ap_ufixed<W, I>` with the default modes (AP_TRN, AP_WRAP): a W-bit
/// unsigned raw value times 2^-(W - I). hls4ml declares softmax's
/// `inp_norm_t` so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UFixed {
    pub width: u32,
    pub integer: i32,
}

impl UFixed {
    pub fn frac(&self) -> i32 {
        self.width as i32 - self.integer
    }

    /// The exact value `raw * 2^-frac` assigned to the type: truncated
    /// toward minus infinity, then the low W bits.
    pub fn assign(&self, raw: i128, frac: i32) -> u64 {
        let shift = frac - self.frac();
        let t = if shift >= 0 {
            raw >> shift.min(127)
        } else {
            raw.wrapping_shl((-shift) as u32)
        };
        (t as u128 & ((1u128 << self.width) - 1)) as u64
    }

    pub fn name(&self) -> String {
        format!("ap_ufixed<{},{}>", self.width, self.integer)
    }
}

/// The softmax layer's configuration (hls4ml's `softmax_config`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftmaxConfig {
    pub exp_table_size: usize,
    pub inv_table_size: usize,
    pub exp_table: Format,
    pub inv_table: Format,
    pub inv_inp: Format,
    pub accum: Format,
    pub inp_norm: UFixed,
}

/// The types of the jet tagger as an hls4ml project declares them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    /// `input_t`, `weight_t`, `bias_t` and every layer's `result_t` (the
    /// model's default precision).
    pub model: Format,
    /// The dense layers' `accum_t`.
    pub accum: Format,
    pub softmax: SoftmaxConfig,
}

/// `ceil(log2 n)`, as `nnet::ceillog2`.
fn ceillog2(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

impl NetConfig {
    /// What hls4ml 1.3.0 writes for `config_from_keras_model(granularity=
    /// 'model', default_precision=model)` (see the module doc).
    pub fn hls4ml_default(model: Format) -> NetConfig {
        let table_t = Format {
            width: 18,
            integer: 8,
            quant: q::RND,
            overflow: o::SAT,
        };
        // fix_softmax_table_size: at most 2^min(input width, inv_table_t width).
        let bits = model.width.min(table_t.width).min(usize::BITS - 1);
        let table = DEFAULT_TABLE_SIZE.min(1 << bits);
        // core_templates.py, stable: inp_norm_t = ap_ufixed<W-1, I-1>, the
        // exp table at most 2^(W-1) entries.
        let inp_norm = UFixed {
            width: model.width.saturating_sub(1),
            integer: model.integer - 1,
        };
        let exp_table_size = table.min(1usize << inp_norm.width.min(usize::BITS - 1));
        NetConfig {
            model,
            accum: model,
            softmax: SoftmaxConfig {
                exp_table_size,
                inv_table_size: table,
                exp_table: table_t,
                inv_table: table_t,
                inv_inp: table_t,
                accum: model,
                inp_norm,
            },
        }
    }

    /// The same with the dense layers' `accum_t` set (hls4ml's
    /// `Precision: {accum: ...}` in the layer or model config).
    pub fn with_accum(self, accum: Format) -> NetConfig {
        NetConfig { accum, ..self }
    }

    /// Whether the templates are well defined for these types: the table
    /// indices must fit the types they are sliced from.
    pub fn check(&self) -> std::result::Result<(), String> {
        let s = &self.softmax;
        for (what, size, width) in [
            ("exp_table_size", s.exp_table_size, s.inp_norm.width),
            ("inv_table_size", s.inv_table_size, s.inv_inp.width),
        ] {
            if size == 0 || !size.is_power_of_two() {
                return Err(format!("{what} {size} is not a power of two"));
            }
            if ceillog2(size) > width {
                return Err(format!(
                    "{what} {size} needs more index bits than the {width}-bit type it is sliced from"
                ));
            }
        }
        if s.inp_norm.width == 0 || s.inp_norm.width > 64 {
            return Err(format!("inp_norm_t {} is not usable", s.inp_norm.name()));
        }
        Ok(())
    }

    /// The configuration in words, for the design notes.
    pub fn describe(&self) -> String {
        let s = &self.softmax;
        format!(
            "hls4ml {HLS4ML_VERSION} types: data, weights and results {}, dense accum_t {}; softmax stable, exp table {} x {} indexed by {}, invert table {} x {} indexed by {}, accum_t {}",
            self.model.name(),
            self.accum.name(),
            s.exp_table_size,
            s.exp_table.name(),
            s.inp_norm.name(),
            s.inv_table_size,
            s.inv_table.name(),
            s.inv_inp.name(),
            s.accum.name()
        )
    }
}

/// Softmax's lookup tables, raw (`init_exp_table`, `init_invert_table`).
#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    pub exp: Vec<i64>,
    pub inv: Vec<i64>,
}

impl Tables {
    pub fn new(s: &SoftmaxConfig) -> Tables {
        let n = ceillog2(s.exp_table_size);
        let exp = (0..s.exp_table_size)
            .map(|i| {
                // softmax_real_val_from_idx: the index is the top N bits.
                let raw = (i as u128) << (s.inp_norm.width - n);
                let x = (raw as f64 * (-(s.inp_norm.frac() as f64)).exp2()) as f32;
                // x * exp_scale (1.0), negated: exp(x - x_max); std::exp(float).
                let e = (-x).exp();
                s.exp_table.from_f64(e as f64)
            })
            .collect();
        let n = ceillog2(s.inv_table_size);
        let w = s.inv_inp.width;
        let inv = (0..s.inv_table_size)
            .map(|i| {
                // The top N bits of a W-bit two's complement value.
                let bits = (i as i128) << (w - n);
                let raw = (bits << (128 - w)) >> (128 - w);
                let x = (raw as f64 * (-(s.inv_inp.frac() as f64)).exp2()) as f32;
                s.inv_table.from_f64((1.0f32 / x) as f64)
            })
            .collect();
        Tables { exp, inv }
    }
}

/// A weight as hls4ml's writer prints it (`{:.F f}` of the value, F the
/// type's fraction bits) and the C++ initialiser converts it (a `double`
/// literal assigned to `ap_fixed`).
pub fn weight_raw(fmt: &Format, w: f32) -> i64 {
    let decimals = fmt.frac().max(0) as usize;
    let text = format!("{:.*}", decimals, w as f64);
    fmt.from_f64(text.parse::<f64>().unwrap_or(w as f64))
}

/// The jet tagger with its weights in the types of a [`NetConfig`].
#[derive(Debug, Clone)]
pub struct Network {
    pub config: NetConfig,
    /// Weights and biases, packed as [`super::weights`], raw in `model`.
    weights: Vec<i64>,
    pub tables: Tables,
}

impl Network {
    pub fn new(config: NetConfig, weights: &[f32]) -> Result<Network> {
        config.check().map_err(|message| Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!("mlp_jet: hls4ml types: {message}"),
        })?;
        if weights.len() != WEIGHT_COUNT {
            return Err(Error::InvalidValue {
                what: "mlp_jet weights".into(),
                message: format!("{} values, want {WEIGHT_COUNT}", weights.len()),
            });
        }
        Ok(Network {
            config,
            weights: weights
                .iter()
                .map(|&w| weight_raw(&config.model, w))
                .collect(),
            tables: Tables::new(&config.softmax),
        })
    }

    /// A feature as the test bench converts it: `input_t` from `float`.
    pub fn input_raw(&self, x: f32) -> i64 {
        self.config.model.from_f64(x as f64)
    }

    /// The logits (the last dense layer's `result_t`), raw.
    pub fn logits(&self, x: &[i64; FEATURES]) -> [i64; CLASSES] {
        let mut h: Vec<i64> = x.to_vec();
        for l in 0..4 {
            h = self.dense(l, &h);
            if l < 3 {
                // nnet::relu: datareg > 0 ? datareg : 0.
                h.iter_mut().for_each(|v| *v = (*v).max(0));
            }
        }
        std::array::from_fn(|c| h[c])
    }

    /// `dense_latency` of layer `l`: every product and partial sum in
    /// `accum_t`, the bias first, inputs in order, one cast to `result_t`.
    fn dense(&self, l: usize, input: &[i64]) -> Vec<i64> {
        let (m, a) = (&self.config.model, &self.config.accum);
        let (fm, fa) = (m.frac(), a.frac());
        let (kd, jd) = (DIMS[l], DIMS[l + 1]);
        let w = &self.weights[LAYER_OFFSETS[l]..][..kd * jd];
        let b = &self.weights[LAYER_OFFSETS[l] + kd * jd..][..jd];
        (0..jd)
            .map(|j| {
                let mut acc = a.quantize(b[j] as i128, fm);
                for (k, &x) in input.iter().enumerate() {
                    let mult = a.quantize(x as i128 * w[k * jd + j] as i128, 2 * fm);
                    acc = a.quantize(acc as i128 + mult as i128, fa);
                }
                m.quantize(acc as i128, fa)
            })
            .collect()
    }

    /// `softmax_stable` of raw logits (`result_t`), raw `result_t`.
    pub fn softmax(&self, z: &[i64; CLASSES]) -> [i64; CLASSES] {
        let s = &self.config.softmax;
        let fm = self.config.model.frac();
        let x_max = reduce(z, &|a, b| if a >= b { a } else { b });
        let exp_bits = ceillog2(s.exp_table_size);
        let exp_res: [i64; CLASSES] = std::array::from_fn(|i| {
            let d = s.inp_norm.assign(x_max as i128 - z[i] as i128, fm);
            let idx = (d >> (s.inp_norm.width - exp_bits)) as usize;
            s.accum
                .quantize(self.tables.exp[idx] as i128, s.exp_table.frac())
        });
        let fa = s.accum.frac();
        let sum = reduce(&exp_res, &|a, b| s.accum.quantize(a as i128 + b as i128, fa));
        let exp_sum = s.inv_inp.quantize(sum as i128, fa);
        let inv_bits = ceillog2(s.inv_table_size);
        let w = s.inv_inp.width;
        let unsigned = (exp_sum as u64 as u128) & ((1u128 << w) - 1);
        let inv = self.tables.inv[(unsigned >> (w - inv_bits)) as usize];
        let frac = fa + s.inv_table.frac();
        std::array::from_fn(|i| {
            self.config
                .model
                .quantize(exp_res[i] as i128 * inv as i128, frac)
        })
    }
}

/// `nnet::reduce`: a balanced tree, the left part the largest power of two
/// below the length.
fn reduce(x: &[i64], op: &dyn Fn(i64, i64) -> i64) -> i64 {
    match x.len() {
        0 => 0,
        1 => x[0],
        2 => op(x[0], x[1]),
        n => {
            let left = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            op(reduce(&x[..left], op), reduce(&x[left..], op))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> Format {
        Format::parse(s).unwrap()
    }

    /// The types hls4ml 1.3.0 writes for the two precisions that matter:
    /// its own default ap_fixed<16,6> and the shipped cards' format.
    #[test]
    fn default_config_is_hls4ml_1_3_0s() {
        let c = NetConfig::hls4ml_default(fmt("ap_fixed<16,6>"));
        assert_eq!(c.accum, c.model);
        assert_eq!(c.softmax.accum, c.model);
        assert_eq!(c.softmax.inp_norm.name(), "ap_ufixed<15,5>");
        assert_eq!((c.softmax.exp_table_size, c.softmax.inv_table_size), (1024, 1024));
        assert_eq!(c.softmax.exp_table.name(), "ap_fixed<18,8,AP_RND,AP_SAT>");
        assert_eq!(c.softmax.inv_inp, c.softmax.exp_table);
        let c = NetConfig::hls4ml_default(fmt("ap_fixed<18,8,AP_RND_CONV,AP_SAT>"));
        assert_eq!(c.softmax.inp_norm.name(), "ap_ufixed<17,7>");
        assert!(c.check().is_ok());
        // A 9-bit model: tables of 2^min(9, 18) = 512, exp table 2^8.
        let c = NetConfig::hls4ml_default(fmt("ap_fixed<9,4>"));
        assert_eq!((c.softmax.exp_table_size, c.softmax.inv_table_size), (256, 512));
        assert!(c.check().is_ok());
        let wide = c.with_accum(fmt("ap_fixed<40,20>"));
        assert_eq!(wide.accum.width, 40);
        assert_eq!(wide.softmax.accum, c.model);
    }

    /// Tables by hand: inp_norm_t ap_ufixed<15,5>, index = top 10 bits = 5
    /// integer and 5 fraction bits, so entry i stands for i/32; inv_inp_t
    /// ap_fixed<18,8>: entry i is x = i/4 (i < 512), (i - 1024)/4 above.
    #[test]
    fn tables_by_hand() {
        let c = NetConfig::hls4ml_default(fmt("ap_fixed<16,6>"));
        let t = Tables::new(&c.softmax);
        let lsb = 1024.0;
        assert_eq!(t.exp[0], 1024);
        // exp(-1) = 0.36788 -> round(376.7) = 377.
        assert_eq!(t.exp[32], 377);
        assert_eq!(t.exp[32], ((-1.0f64).exp() * lsb).round() as i64);
        // 1/0 = inf saturates; 1/1 = 1; 1/1.25 = 0.8 -> round(819.2) = 819;
        // 1/-0.25 = -4.
        assert_eq!(t.inv[0], (1 << 17) - 1);
        assert_eq!(t.inv[4], 1024);
        assert_eq!(t.inv[5], 819);
        assert_eq!(t.inv[1023], -4096);
        assert_eq!(t.inv.len(), 1024);
    }

    /// One softmax by hand in ap_fixed<16,6>: logits 1, 0, 0.5, -20, 2.
    #[test]
    fn softmax_by_hand() {
        let c = NetConfig::hls4ml_default(fmt("ap_fixed<16,6>"));
        let net = Network::new(c, &super::super::weights()).unwrap();
        let z = [1024, 0, 512, -20 * 1024, 2048];
        let p = net.softmax(&z);
        // d = 1, 2, 1.5, 22, 0 -> indices 32, 64, 48, 704, 0.
        let e: Vec<i64> = [32, 64, 48, 704, 0].iter().map(|&i| net.tables.exp[i]).collect();
        assert_eq!(e[4], 1024);
        assert_eq!(e[3], 0, "exp(-22) rounds to 0 at 10 fraction bits");
        let sum: i64 = e.iter().sum();
        // exp_sum in ap_fixed<18,8>: index = floor(sum / 256) (its top 10 bits).
        let inv = net.tables.inv[(sum >> 8) as usize];
        for c in 0..5 {
            assert_eq!(p[c], (e[c] * inv) >> 10, "class {c}");
        }
        // 1 + 0.368 + 0.135 + 0.223 = 1.727: index 6 (1.5); 1/1.5 =
        // 682.67 LSB rounds (AP_RND) to 683, and 1 * 683 truncates to 683.
        assert_eq!(sum >> 8, 6);
        assert_eq!(inv, 683);
        assert_eq!(p[4], 683);
    }

    /// In the layer's own ap_fixed<16,6> every product is truncated, so a
    /// dense layer differs from the exact sum cast once; with a wide
    /// accum_t it is the exact sum cast once.
    #[test]
    fn accumulator_type_decides_the_rounding() {
        let m = fmt("ap_fixed<16,6>");
        let mut w = vec![0.0f32; WEIGHT_COUNT];
        // Neuron 0 of layer 1: 16 weights of 0.3 (raw 307), bias 0.
        for k in 0..16 {
            w[k * 64] = 0.3;
        }
        let x = [1023i64; FEATURES]; // 0.999 each
        let narrow = Network::new(NetConfig::hls4ml_default(m), &w).unwrap();
        let wide = Network::new(
            NetConfig::hls4ml_default(m).with_accum(fmt("ap_fixed<40,20>")),
            &w,
        )
        .unwrap();
        let hn = narrow.dense(0, &x)[0];
        let hw = wide.dense(0, &x)[0];
        // 307 * 1023 / 1024 = 306.7 -> 306 each, 16 of them.
        assert_eq!(hn, 16 * 306);
        // Exact: 16 * 307 * 1023 / 1024 = 4907.2 -> 4907.
        assert_eq!(hw, 4907);
    }

    #[test]
    fn reduce_is_hls4mls_tree() {
        // Order shows in a non-associative op: (a - b) as the op.
        let x = [1, 2, 4, 8, 16];
        // ((1-2) - (4-8)) - 16 = 3 - 16 = -13.
        assert_eq!(reduce(&x, &|a, b| a - b), -13);
        assert_eq!(reduce(&x[..3], &|a, b| a - b), (1 - 2) - 4);
        assert_eq!(ceillog2(1024), 10);
        assert_eq!(ceillog2(1000), 10);
        assert_eq!(ceillog2(1), 0);
    }

    #[test]
    fn weights_as_the_writer_prints_them() {
        let f = fmt("ap_fixed<16,6,AP_RND,AP_SAT>");
        // An odd multiple of 2^-11 prints as 0.0004882812 (10 decimals,
        // rounded to even) and so rounds down where the exact value ties up.
        let w = 1.0f32 / 2048.0;
        assert_eq!(f.from_f64(w as f64), 1);
        assert_eq!(weight_raw(&f, w), 0);
        assert_eq!(weight_raw(&f, 0.25), 256);
    }
}
