//! The timing, resource and power model of a pipelined HLS design.
//!
//! A kernel is described as a [`Design`]: pipelined loops ([`Stage`]s) run
//! one after another, each taking `(trips - 1) * II + depth` cycles, with
//! the resources its parallelism costs and the off-chip bytes it moves.
//! [`evaluate`] turns a design into figures on a [`Card`]:
//!
//! - time of one invocation = max(compute cycles / clock, off-chip bytes /
//!   (bandwidth x efficiency)): memory-bound kernels hit the card's bandwidth;
//! - power = static + toggle x clock(MHz) x sum(count x µW/MHz per resource)
//!   + off-chip bytes x pJ/byte / time; energy = power x time.
//!
//! Building blocks ([`dense`], [`streaming`]) size the parallelism from a
//! reuse factor (hls4ml's: each multiplier is used R times per input, so a
//! layer of N multiplies has ceil(N/R) multipliers and II = R) and raise the
//! reuse factor until DSPs, LUTs, FFs and on-chip memory fit the card's
//! usable share. Constants that no datasheet gives (multiplier latency,
//! adder levels per cycle, LUTs per adder bit, the kernel's interface
//! overhead) are named below and reported as `uncalibrated`.

use serde::{Deserialize, Serialize};

use super::card::Card;
use super::fixed::Format;
use crate::error::{Error, Result};

/// Changes whenever a formula or constant of the model changes.
pub const MODEL_VERSION: &str = "3";

/// Cycles of a pipelined DSP multiply at `clock_mhz` (uncalibrated: two
/// register stages up to 250 MHz, three above, as HLS schedules DSP48E2).
pub fn mult_latency(clock_mhz: f64) -> u64 {
    if clock_mhz <= 250.0 { 2 } else { 3 }
}

/// Levels of an adder tree that fit one cycle (uncalibrated: about 1.1 ns
/// per carry-chain adder level with routing).
pub fn adder_levels_per_cycle(clock_mhz: f64) -> u64 {
    ((1000.0 / clock_mhz / 1.1).floor() as u64).max(1)
}

/// Cycles from issuing an off-chip burst read to its first data
/// (uncalibrated: typical AXI/DDR latency of HLS m_axi ports).
pub const MEMORY_LATENCY_CYCLES: u64 = 64;
/// LUTs and FFs of the kernel's interfaces and control (AXI masters,
/// AXI-Lite, FSM), uncalibrated.
pub const INTERFACE_LUT: f64 = 5_000.0;
pub const INTERFACE_FF: f64 = 8_000.0;

/// Words of one LUTRAM bank: a LUT6 is a 64 x 1 RAM (UG574), so weights
/// of a multiplier used up to 64 times sit in W LUTs.
pub const LUTRAM_DEPTH: u64 = 64;

/// Bytes one value of `fmt` occupies in off-chip memory: the width rounded
/// up to 1, 2, 4 or 8 bytes, as C arrays of `ap_fixed` are laid out.
pub fn storage_bytes(fmt: &Format) -> f64 {
    match fmt.width {
        0..=8 => 1.0,
        9..=16 => 2.0,
        17..=32 => 4.0,
        _ => 8.0,
    }
}

/// One pipelined loop, run `repeat` times one after another (an outer
/// loop around it, e.g. once per tile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// Times the loop runs back to back (1 for a plain loop).
    #[serde(default = "one")]
    pub repeat: u64,
    pub trips: u64,
    /// Initiation interval, cycles.
    pub ii: u64,
    /// Pipeline depth (latency of one iteration), cycles.
    pub depth: u64,
    /// Operations in flight per cycle (multipliers, lanes).
    pub parallelism: u64,
}

fn one() -> u64 {
    1
}

impl Stage {
    /// A loop run once.
    pub fn new(name: &str, trips: u64, ii: u64, depth: u64, parallelism: u64) -> Stage {
        Stage {
            name: name.to_string(),
            repeat: 1,
            trips,
            ii,
            depth,
            parallelism,
        }
    }

    /// `repeat * ((trips - 1) * II + depth)`.
    pub fn cycles(&self) -> u64 {
        self.repeat * (self.trips.saturating_sub(1) * self.ii + self.depth)
    }
}

/// Resource counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub lut: f64,
    pub ff: f64,
    pub dsp: f64,
    pub bram: f64,
    pub uram: f64,
}

impl Usage {
    /// The card's usable share of each resource.
    pub fn available(card: &Card) -> Usage {
        let r = &card.resources;
        let u = r.usable_fraction.value;
        Usage {
            lut: (r.lut.value * u).floor(),
            ff: (r.ff.value * u).floor(),
            dsp: (r.dsp.value * u).floor(),
            bram: (r.bram.value * u).floor(),
            uram: (r.uram.value * u).floor(),
        }
    }

    /// The first resource over `avail`, if any.
    pub fn over(&self, avail: &Usage) -> Option<&'static str> {
        [
            ("DSP", self.dsp, avail.dsp),
            ("LUT", self.lut, avail.lut),
            ("FF", self.ff, avail.ff),
            ("BRAM", self.bram, avail.bram),
            ("URAM", self.uram, avail.uram),
        ]
        .into_iter()
        .find(|(_, used, av)| used > av)
        .map(|(n, _, _)| n)
    }
}

/// A kernel as a pipelined design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub stages: Vec<Stage>,
    pub usage: Usage,
    /// Bytes moved between off-chip memory and the kernel per invocation.
    pub offchip_bytes: f64,
    /// Bytes the host uploads and reads back per invocation (PCIe).
    pub host_bytes: f64,
    /// Reuse factor asked for and the one the budget allowed.
    pub reuse_requested: u64,
    pub reuse_factor: u64,
    /// Assumptions and decisions, in words.
    pub notes: Vec<String>,
}

/// What a dense (matrix-vector) engine needs: `rows` input vectors of
/// `n_in` through an `n_in x n_out` weight matrix held on chip.
#[derive(Debug, Clone, Copy)]
pub struct DenseShape {
    pub n_in: u64,
    pub n_out: u64,
    pub rows: u64,
}

/// The usage of a dense engine with reuse factor `r`, or why none fits.
fn dense_usage(
    card: &Card,
    fmt: &Format,
    shape: DenseShape,
    r: u64,
    weights: Weights,
) -> (Usage, u64, String) {
    let w = fmt.width as f64;
    let mults = shape.n_in * shape.n_out;
    let p = mults.div_ceil(r);
    let acc_bits = 2.0 * w + (shape.n_in as f64).log2().ceil();
    let dsp_each = card.dsp_rule.blocks(fmt.width, fmt.width);
    // At R = 1 each multiplier of a constant weight is fixed: those the
    // rule of [`in_fabric`] picks are shift-adds, one adder each.
    let fabric = match weights {
        Weights::Constants { fabric } if r == 1 => fabric.min(p),
        _ => 0,
    };
    let mut u = Usage {
        dsp: (p - fabric) as f64 * dsp_each,
        // One accumulator adder per multiplier on the carry chain (a LUT per
        // bit), pipeline registers on products and sums; a shift-add
        // multiplier is one more adder of the product's width.
        lut: INTERFACE_LUT + p as f64 * acc_bits + fabric as f64 * 2.0 * w,
        ff: INTERFACE_FF + p as f64 * (acc_bits + 2.0 * w),
        ..Usage::default()
    };
    // Weights: one bank per multiplier, R words deep.
    let bank_bits = r as f64 * w;
    let where_ = if r == 1 && matches!(weights, Weights::Constants { .. }) {
        "the logic (constants)".to_string()
    } else if r == 1 {
        u.ff += p as f64 * w;
        "registers".to_string()
    } else if r <= LUTRAM_DEPTH {
        // LUTRAM: a LUT6 is a 64 x 1 RAM.
        u.lut += p as f64 * w;
        "LUTRAM".to_string()
    } else {
        let ports = card.resources.bram_read_ports.value.max(1.0);
        let bram_bits = card.resources.bram_kbit.value * 1024.0;
        let bram = (p as f64 / ports).ceil() * (ports * bank_bits / bram_bits).ceil().max(1.0);
        let avail = Usage::available(card);
        if bram <= avail.bram {
            u.bram = bram;
            "block RAM".to_string()
        } else {
            // UltraRAM: 288 Kb, two ports.
            u.uram = (p as f64 / 2.0).ceil() * (2.0 * bank_bits / 294_912.0).ceil().max(1.0);
            "UltraRAM".to_string()
        }
    };
    (u, p, where_)
}

/// Where a dense engine's weights come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Run-time data (`gemm`'s B): every multiply takes DSPs.
    Data,
    /// Compile-time constants (a trained network, as hls4ml writes its
    /// weights into the HLS source). At R = 1 each multiplier has one fixed
    /// weight: `fabric` of the multiplies have weights that [`in_fabric`]
    /// puts in LUTs, the constants fold into the logic (no storage), and the
    /// layers chain as one pipeline (hls4ml's latency strategy, see
    /// [`dense_with`]). At R > 1 the multipliers are shared and the weights
    /// are a ROM, as for `Data`.
    Constants { fabric: u64 },
}

/// Most nonzero digits a constant may have in canonical signed-digit form
/// for its multiply to be built in LUTs rather than a DSP.
///
/// The rule: a product by a constant with at most two nonzero CSD digits
/// (zero, +-2^a, +-2^a +- 2^b) is at most one shift and one add, a single
/// carry-chain adder, which HLS and synthesis implement in fabric instead
/// of a DSP (constant-multiplication strength reduction; a multiply by zero
/// is removed, one by a power of two is a shift). That constant
/// multiplications need no DSP is the basis of hls4ml's fabric-only
/// constant matrix-vector products (Sun et al., "da4ml: Distributed
/// Arithmetic for Real-time Neural Networks on FPGAs", arXiv:2507.04535;
/// checked); that hls4ml's DSP counts fall below its multiply counts at
/// reduced precision is reported by Duarte et al., "Fast inference of deep
/// neural networks in FPGAs for particle physics", JINST 13 (2018) P07027,
/// arXiv:1804.06913 (title, authors and arXiv number checked; the finding
/// checked only in summaries of the paper, not in its text; the journal
/// reference is as commonly cited, not checked). The two-digit threshold is this
/// model's choice (one adder per multiply is cheaper than a DSP48E2 at
/// 16-18 bits), checked against the published jet-tagging figures in the
/// tests (`hls4ml_jet_tagger_calibration`), not fitted to them.
pub const FABRIC_MULT_MAX_DIGITS: u32 = 2;

/// Nonzero digits of `v` in canonical signed-digit (non-adjacent) form.
pub fn csd_digits(v: i64) -> u32 {
    let mut v = v.unsigned_abs() as u128;
    let mut n = 0;
    while v != 0 {
        if v & 1 == 1 {
            n += 1;
            // Digit +1 if v = 1 mod 4, -1 (borrowing upward) if v = 3 mod 4.
            if v & 3 == 3 { v += 1 } else { v -= 1 }
        }
        v >>= 1;
    }
    n
}

/// Whether a multiply by the constant of raw value `raw` (its integer
/// representation in the format) is built in LUTs: see
/// [`FABRIC_MULT_MAX_DIGITS`].
pub fn in_fabric(raw: i64) -> bool {
    csd_digits(raw) <= FABRIC_MULT_MAX_DIGITS
}

/// A weight-stationary dense engine (hls4ml's dense layer, resource
/// strategy): ceil(n_in*n_out / R) multipliers, II = R per row, depth =
/// R + multiply + adder tree + 2 register stages; R raised (doubling) until
/// the design fits the card. Weights are run-time data: see [`dense_with`].
pub fn dense(
    card: &Card,
    fmt: &Format,
    name: &str,
    shape: DenseShape,
    reuse: u64,
) -> Result<(Stage, Usage, u64, Vec<String>)> {
    dense_with(card, fmt, name, shape, reuse, Weights::Data)
}

/// [`dense`] with the weights' origin. With constant weights at R = 1
/// (hls4ml's latency strategy, fully unrolled) the layers are inlined into
/// one pipeline: a layer's multiply takes its input from the previous
/// layer's output register, so its depth is the multiply's stages less
/// that input register, plus its adder tree (the bias is the
/// accumulator's start value, the cast and ReLU are wiring and one
/// comparison folded into the last level). The caller adds one input
/// register for the whole network.
pub fn dense_with(
    card: &Card,
    fmt: &Format,
    name: &str,
    shape: DenseShape,
    reuse: u64,
    weights: Weights,
) -> Result<(Stage, Usage, u64, Vec<String>)> {
    let avail = Usage::available(card);
    let mults = shape.n_in * shape.n_out;
    let dsp_each = card.dsp_rule.blocks(fmt.width, fmt.width);
    // The smallest R the DSP budget allows, then doubling for the rest.
    let mut r = reuse
        .max(1)
        .max((mults as f64 * dsp_each / avail.dsp.max(1.0)).ceil() as u64)
        .min(mults);
    let mut notes = Vec::new();
    loop {
        let (u, p, banks) = dense_usage(card, fmt, shape, r, weights);
        match u.over(&avail) {
            None => {
                if r != reuse {
                    notes.push(format!(
                        "{name}: reuse factor raised from {reuse} to {r} to fit the usable {} of the card",
                        card.resources.usable_fraction.value
                    ));
                }
                let latency_strategy = r == 1 && matches!(weights, Weights::Constants { .. });
                let fabric = match weights {
                    Weights::Constants { fabric } if r == 1 => fabric.min(p),
                    _ => 0,
                };
                notes.push(format!(
                    "{name}: {p} multipliers of {w}x{w} bits ({dsp_each} DSP each, {:?}{}), weights in {banks}",
                    card.dsp_rule,
                    if fabric > 0 {
                        format!(
                            "; {fabric} by constants of <= {FABRIC_MULT_MAX_DIGITS} signed digits in LUTs"
                        )
                    } else {
                        String::new()
                    },
                    w = fmt.width
                ));
                let clock = card.clock_mhz.value;
                let tree = (shape.n_in as f64).log2().ceil() as u64;
                let tree_cycles = tree.div_ceil(adder_levels_per_cycle(clock));
                let depth = if latency_strategy {
                    mult_latency(clock) - 1 + tree_cycles
                } else {
                    r + mult_latency(clock) + tree_cycles + 2
                };
                let stage = Stage::new(name, shape.rows, r, depth, p);
                return Ok((stage, u, r, notes));
            }
            Some(res) if r >= mults => {
                return Err(Error::Unsupported {
                    backend: "fpga-emu".into(),
                    message: format!(
                        "{name} does not fit {}: {res} exceeds the usable budget even with one multiplier",
                        card.name
                    ),
                });
            }
            Some(_) => r = (r * 2).min(mults),
        }
    }
}

/// A streaming element-wise engine: as many lanes as saturate the card's
/// memory bandwidth at the clock, II = 1, each lane with `mults` multiplies
/// and `adds` additions; `values_per_item` values move per element.
pub fn streaming(
    card: &Card,
    fmt: &Format,
    name: &str,
    items: u64,
    values_per_item: f64,
    mults: u64,
    adds: u64,
) -> Result<(Stage, Usage, Vec<String>)> {
    let clock = card.clock_mhz.value * 1e6;
    let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
    let bytes_per_item = values_per_item * storage_bytes(fmt);
    let lanes = ((bw / (clock * bytes_per_item)).ceil() as u64).max(1);
    let w = fmt.width as f64;
    let dsp_each = card.dsp_rule.blocks(fmt.width, fmt.width);
    let u = Usage {
        dsp: (lanes * mults) as f64 * dsp_each,
        lut: INTERFACE_LUT + (lanes * adds) as f64 * (2.0 * w + 1.0),
        ff: INTERFACE_FF + lanes as f64 * (values_per_item * w + (mults + adds) as f64 * 2.0 * w),
        ..Usage::default()
    };
    if let Some(res) = u.over(&Usage::available(card)) {
        return Err(Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!(
                "{name} with {lanes} lanes exceeds the usable {res} of {}",
                card.name
            ),
        });
    }
    let depth = MEMORY_LATENCY_CYCLES + mult_latency(card.clock_mhz.value) + adds + 2;
    let stage = Stage::new(name, items.div_ceil(lanes), 1, depth, lanes);
    let notes = vec![format!(
        "{name}: {lanes} lanes, enough to carry {:.1} GB/s at {} MHz with {} bytes per value",
        bw / 1e9,
        card.clock_mhz.value,
        storage_bytes(fmt)
    )];
    Ok((stage, u, notes))
}

/// A stage that streams `values` values in from off-chip memory at the
/// bandwidth the clock allows (used to load on-chip weights).
pub fn load_stage(card: &Card, fmt: &Format, name: &str, values: u64) -> Stage {
    let per_cycle = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value
        / (card.clock_mhz.value * 1e6)
        / storage_bytes(fmt);
    let lanes = (per_cycle.floor() as u64).max(1);
    Stage::new(
        name,
        values.div_ceil(lanes),
        1,
        MEMORY_LATENCY_CYCLES,
        lanes,
    )
}

/// Cycles of a pipelined W x W multiply built from `blocks` DSP blocks
/// (uncalibrated): [`mult_latency`], plus one cycle per level of the tree
/// that sums the partial products of a multi-block multiply (through the
/// DSP cascade).
pub fn wide_mult_latency(clock_mhz: f64, blocks: f64) -> u64 {
    mult_latency(clock_mhz) + (blocks.max(1.0).log2().ceil() as u64)
}

/// Cycles of a pipelined W-bit fixed-point divider (uncalibrated: a
/// radix-2 array, one quotient bit per stage, plus input and output
/// registers, as HLS builds `ap_fixed` division; II = 1).
pub fn divider_latency(width: u32) -> u64 {
    width as u64 + 4
}

/// LUTs (and as many FFs) of one pipelined W-bit divider (uncalibrated:
/// W stages of a W-bit subtract-and-select with its register).
pub fn divider_luts(width: u32) -> f64 {
    (width * width) as f64
}

/// Block RAMs (or UltraRAMs where `bits` does not fit the block RAM left)
/// for `bits` of on-chip buffer read through `banks` independent ports:
/// each bank its own blocks. `bram_left` is the usable block RAM not yet
/// taken by the rest of the design.
pub fn buffer_blocks(card: &Card, bits: f64, banks: u64, bram_left: f64) -> Usage {
    let banks = banks.max(1) as f64;
    let per_bank = bits / banks;
    let bram_bits = card.resources.bram_kbit.value * 1024.0;
    let bram = banks * (per_bank / bram_bits).ceil().max(1.0);
    if bram <= bram_left || card.resources.uram.value == 0.0 {
        return Usage {
            bram,
            ..Usage::default()
        };
    }
    Usage {
        uram: banks * (per_bank / URAM_BITS).ceil().max(1.0),
        ..Usage::default()
    }
}

/// Bits of one UltraRAM block (288 Kb, UG573).
pub const URAM_BITS: f64 = 294_912.0;

/// What one lane of a streaming engine computes per item, and what else it
/// holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LaneOps {
    /// W x W multiplies in DSP blocks.
    pub mults: u64,
    /// Multiplies by constants of few signed digits, built in LUTs.
    pub fabric_mults: u64,
    /// Additions and subtractions.
    pub adds: u64,
    /// Divisions (reciprocals).
    pub divs: u64,
    /// Pipeline depth of one item, cycles (memory latency not included).
    pub depth: u64,
    /// Per-lane memory and registers beyond the operators (buffers, state).
    pub extra: Usage,
}

impl LaneOps {
    /// Resources of one lane in `fmt` on `card`.
    pub fn usage(&self, card: &Card, fmt: &Format, values_per_item: f64) -> Usage {
        let w = fmt.width as f64;
        let dsp_each = card.dsp_rule.blocks(fmt.width, fmt.width);
        let div = divider_luts(fmt.width);
        Usage {
            dsp: self.mults as f64 * dsp_each + self.extra.dsp,
            lut: self.adds as f64 * (2.0 * w + 1.0)
                + self.fabric_mults as f64 * 2.0 * w
                + self.divs as f64 * div
                + self.extra.lut,
            ff: values_per_item * w
                + (self.mults + self.adds + self.fabric_mults) as f64 * 2.0 * w
                + self.divs as f64 * div
                + self.extra.ff,
            bram: self.extra.bram,
            uram: self.extra.uram,
        }
    }
}

/// How many lanes of `per_lane` fit beside the interfaces (0 if none).
pub fn lanes_that_fit(card: &Card, per_lane: &Usage) -> u64 {
    let a = Usage::available(card);
    let room = |avail: f64, fixed: f64, each: f64| {
        if each <= 0.0 {
            u64::MAX
        } else {
            ((avail - fixed) / each).floor().max(0.0) as u64
        }
    };
    [
        room(a.dsp, 0.0, per_lane.dsp),
        room(a.lut, INTERFACE_LUT, per_lane.lut),
        room(a.ff, INTERFACE_FF, per_lane.ff),
        room(a.bram, 0.0, per_lane.bram),
        room(a.uram, 0.0, per_lane.uram),
    ]
    .into_iter()
    .min()
    .unwrap_or(0)
}

/// A streaming engine of `ops` per item at II = 1 per lane: as many lanes
/// as the card's bandwidth feeds (`values_per_item` values of the format
/// move per item), fewer where the resources run out first. Depth: memory
/// latency + `ops.depth`.
pub fn streaming_with(
    card: &Card,
    fmt: &Format,
    name: &str,
    items: u64,
    values_per_item: f64,
    ops: &LaneOps,
) -> Result<(Stage, Usage, Vec<String>)> {
    let clock = card.clock_mhz.value * 1e6;
    let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
    let bytes_per_item = values_per_item * storage_bytes(fmt);
    let fed = ((bw / (clock * bytes_per_item)).ceil() as u64).max(1);
    let per_lane = ops.usage(card, fmt, values_per_item);
    let fit = lanes_that_fit(card, &per_lane);
    if fit == 0 {
        let mut one = per_lane;
        one.lut += INTERFACE_LUT;
        one.ff += INTERFACE_FF;
        return Err(Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!(
                "{name}: one lane exceeds the usable {} of {}",
                one.over(&Usage::available(card)).unwrap_or("budget"),
                card.name
            ),
        });
    }
    let lanes = fed.min(fit);
    let n = lanes as f64;
    let u = Usage {
        dsp: n * per_lane.dsp,
        lut: INTERFACE_LUT + n * per_lane.lut,
        ff: INTERFACE_FF + n * per_lane.ff,
        bram: n * per_lane.bram,
        uram: n * per_lane.uram,
    };
    let stage = Stage::new(
        name,
        items.div_ceil(lanes),
        1,
        MEMORY_LATENCY_CYCLES + ops.depth,
        lanes,
    );
    let why = if lanes < fed {
        format!("the resources allow {fit} (the bandwidth would feed {fed})")
    } else {
        format!(
            "enough to carry {:.1} GB/s at {} MHz with {} bytes per value",
            bw / 1e9,
            card.clock_mhz.value,
            storage_bytes(fmt)
        )
    };
    let notes = vec![format!(
        "{name}: {lanes} lanes at II = 1, {why}; per lane {} multiplies ({} DSP each), {} in LUTs, {} adds, {} dividers",
        ops.mults,
        card.dsp_rule.blocks(fmt.width, fmt.width),
        ops.fabric_mults,
        ops.adds,
        ops.divs
    )];
    Ok((stage, u, notes))
}

/// Modeled power, watts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerFigures {
    pub static_w: f64,
    pub dynamic_w: f64,
    pub offchip_w: f64,
    pub total_w: f64,
}

/// The model's figures of one design on one card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub model_version: String,
    pub card: String,
    pub card_name: String,
    pub card_origin: String,
    pub format: String,
    pub clock_mhz: f64,
    pub toggle_rate: f64,
    pub reuse_requested: u64,
    pub reuse_factor: u64,
    pub stages: Vec<(Stage, u64)>,
    /// II of the main (longest) stage, cycles.
    pub ii: u64,
    pub compute_cycles: u64,
    pub compute_s: f64,
    /// Off-chip bytes over bandwidth x efficiency.
    pub memory_s: f64,
    /// One invocation: max(compute, memory).
    pub latency_s: f64,
    pub latency_cycles: u64,
    pub bound: String,
    /// Upload, invocation and read-back over the host link.
    pub end_to_end_s: f64,
    pub usage: Usage,
    pub available: Usage,
    pub power: PowerFigures,
    pub energy_j: f64,
    pub offchip_bytes: f64,
    pub notes: Vec<String>,
    /// Every card figure used, with its source.
    pub sources: Vec<(String, f64, String)>,
}

/// Evaluates `design` on `card`.
pub fn evaluate(card: &Card, fmt: &Format, design: &Design) -> Evaluation {
    let f_mhz = card.clock_mhz.value;
    let compute_cycles: u64 = design.stages.iter().map(Stage::cycles).sum();
    let compute_s = compute_cycles as f64 / (f_mhz * 1e6);
    let bw = card.memory.bandwidth_gbs.value * 1e9 * card.memory.efficiency.value;
    let memory_s = design.offchip_bytes / bw;
    let latency_s = compute_s.max(memory_s);
    let p = &card.power;
    let u = &design.usage;
    let toggle = p.toggle_rate.value;
    let dynamic_w = toggle
        * f_mhz
        * 1e-6
        * (u.lut * p.lut_uw_per_mhz.value
            + u.ff * p.ff_uw_per_mhz.value
            + u.dsp * p.dsp_uw_per_mhz.value
            + u.bram * p.bram_uw_per_mhz.value
            + u.uram * p.uram_uw_per_mhz.value);
    let offchip_w = if latency_s > 0.0 {
        design.offchip_bytes * card.memory.pj_per_byte.value * 1e-12 / latency_s
    } else {
        0.0
    };
    let total_w = p.static_w.value + dynamic_w + offchip_w;
    let main = design
        .stages
        .iter()
        .max_by_key(|s| s.cycles())
        .map(|s| s.ii)
        .unwrap_or(1);
    let mut notes = design.notes.clone();
    if total_w > p.max_board_w.value {
        notes.push(format!(
            "modeled power {total_w:.1} W exceeds the board limit of {} W",
            p.max_board_w.value
        ));
    }
    Evaluation {
        model_version: MODEL_VERSION.into(),
        card: card.id.clone(),
        card_name: card.name.clone(),
        card_origin: card.origin.clone(),
        format: fmt.name(),
        clock_mhz: f_mhz,
        toggle_rate: toggle,
        reuse_requested: design.reuse_requested,
        reuse_factor: design.reuse_factor,
        stages: design
            .stages
            .iter()
            .map(|s| (s.clone(), s.cycles()))
            .collect(),
        ii: main,
        compute_cycles,
        compute_s,
        memory_s,
        latency_s,
        latency_cycles: (latency_s * f_mhz * 1e6).ceil() as u64,
        bound: if memory_s > compute_s {
            "memory"
        } else {
            "compute"
        }
        .into(),
        end_to_end_s: latency_s + design.host_bytes / (card.memory.pcie_gbs.value * 1e9),
        usage: *u,
        available: Usage::available(card),
        power: PowerFigures {
            static_w: p.static_w.value,
            dynamic_w,
            offchip_w,
            total_w,
        },
        energy_j: total_w * latency_s,
        offchip_bytes: design.offchip_bytes,
        notes,
        sources: card
            .figures()
            .into_iter()
            .map(|(n, f)| (n.to_string(), f.value, f.source.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpga::card;

    fn cards() -> Vec<Card> {
        card::load(None).unwrap()
    }

    #[test]
    fn loop_cycles_follow_the_pipeline_formula() {
        let mut s = Stage::new("x", 100, 4, 10, 1);
        assert_eq!(s.cycles(), 99 * 4 + 10);
        s.repeat = 3;
        assert_eq!(s.cycles(), 3 * (99 * 4 + 10));
    }

    /// A 64 x 64 dense engine on the U250 at R = 1, by hand: 4096 18x18
    /// multiplies, 1 DSP48E2 each; 3 multiply stages at 300 MHz; an adder
    /// tree of 6 levels at 3 levels per cycle (3.33 ns / 1.1 ns) = 2 cycles;
    /// depth 1 + 3 + 2 + 2 = 8; 10 rows: 9 * 1 + 8 = 17 cycles.
    #[test]
    fn dense_engine_by_hand() {
        let u250 = &cards()[0];
        let fmt = u250.fixed_format().unwrap();
        let shape = DenseShape {
            n_in: 64,
            n_out: 64,
            rows: 10,
        };
        let (stage, usage, r, _) = dense(u250, &fmt, "d", shape, 1).unwrap();
        assert_eq!((r, stage.ii, stage.depth, stage.cycles()), (1, 1, 8, 17));
        assert_eq!(usage.dsp, 4096.0);
        // acc = 36 + 6 = 42 bits: LUT 5000 + 4096 * 42.
        assert_eq!(usage.lut, 5000.0 + 4096.0 * 42.0);
        // On the Agilex two 18x19 multiplies share a block.
        let agilex = &cards()[2];
        let (_, usage, _, _) = dense(agilex, &fmt, "d", shape, 1).unwrap();
        assert_eq!(usage.dsp, 2048.0);
    }

    #[test]
    fn reuse_is_raised_to_fit_the_dsp_budget() {
        let u250 = &cards()[0];
        let fmt = u250.fixed_format().unwrap();
        let shape = DenseShape {
            n_in: 512,
            n_out: 512,
            rows: 512,
        };
        let (stage, usage, r, notes) = dense(u250, &fmt, "g", shape, 1).unwrap();
        // 262144 multiplies over floor(12288 * 0.75) = 9216 DSPs: R = 29.
        assert_eq!(r, 29);
        assert_eq!(stage.parallelism, 262_144u64.div_ceil(29));
        assert!(usage.dsp <= 9216.0);
        assert!(notes[0].contains("raised from 1 to 29"), "{notes:?}");
    }

    #[test]
    fn csd_digits_and_the_fabric_rule() {
        assert_eq!(csd_digits(0), 0);
        assert_eq!(csd_digits(64), 1);
        assert_eq!(csd_digits(-7), 2); // 8 - 1
        assert_eq!(csd_digits(5), 2); // 4 + 1
        assert_eq!(csd_digits(11), 3); // 16 - 4 - 1
        assert_eq!(csd_digits(0b1010_1010), 4);
        assert!(in_fabric(-96) && !in_fabric(11));
    }
}
