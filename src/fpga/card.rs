//! Device cards: what the model knows of an FPGA board, each figure with
//! its source. Cards are TOML files shipped in `fpga/cards/` (embedded with
//! `include_str!`); a directory given in `HETBENCH_FPGA_CARDS` adds cards
//! and replaces shipped ones of the same `id`.
//!
//! Every figure is `{ value = ..., source = "..." }`. A source that starts
//! with `uncalibrated` marks a figure that no datasheet or measurement
//! backs (an order of magnitude or an assumption); reports carry the
//! sources along with the figures.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::fixed::Format;
use crate::error::{Error, Result};

/// The shipped cards: (file name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "alveo_u250.toml",
        include_str!("../../fpga/cards/alveo_u250.toml"),
    ),
    (
        "alveo_u55c.toml",
        include_str!("../../fpga/cards/alveo_u55c.toml"),
    ),
    (
        "agilex7_agi027.toml",
        include_str!("../../fpga/cards/agilex7_agi027.toml"),
    ),
];

/// The environment variable naming a directory of extra or replacement cards.
pub const CARDS_DIR_ENV: &str = "HETBENCH_FPGA_CARDS";

/// A number and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: f64,
    pub source: String,
}

impl Figure {
    pub fn calibrated(&self) -> bool {
        !self.source.trim_start().starts_with("uncalibrated")
    }
}

/// How a Wa x Wb multiply maps to DSP blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DspRule {
    /// DSP48E2 (27x18 signed): ceil(Wa/27) * ceil(Wb/18) slices (UG579).
    UltrascalePlus,
    /// Agilex variable-precision DSP block: two 18x19 per block, one 27x27,
    /// 36x36 in two blocks, 54x54 in four (Agilex 7 FPGAs and SoCs Device
    /// Overview, 683458, table "Variable-Precision DSP Block Configurations";
    /// checked).
    Agilex,
}

impl DspRule {
    /// DSP blocks (fractional for Agilex half blocks) of one Wa x Wb multiply.
    pub fn blocks(self, wa: u32, wb: u32) -> f64 {
        let (lo, hi) = (wa.min(wb), wa.max(wb));
        match self {
            DspRule::UltrascalePlus => {
                // Orient the wider operand on the 27-bit port.
                (hi.div_ceil(27) * lo.div_ceil(18)) as f64
            }
            DspRule::Agilex => {
                if hi <= 19 && lo <= 18 {
                    0.5
                } else if hi <= 27 {
                    1.0
                } else if hi <= 36 {
                    2.0
                } else if hi <= 54 {
                    4.0
                } else {
                    4.0 * (hi.div_ceil(54) * lo.div_ceil(54)) as f64
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// 6-input LUTs (Agilex: two per ALM).
    pub lut: Figure,
    pub ff: Figure,
    /// DSP slices or blocks.
    pub dsp: Figure,
    /// Block RAMs (BRAM36 or M20K).
    pub bram: Figure,
    /// Kbit per block RAM (36 or 20).
    pub bram_kbit: Figure,
    /// Read ports of one block RAM usable at once (BRAM36: 2; M20K: 1).
    pub bram_read_ports: Figure,
    /// UltraRAM blocks (288 Kbit), 0 where the device has none.
    pub uram: Figure,
    /// Fraction of each resource left to kernels after the shell (static
    /// region, PCIe, memory controllers).
    pub usable_fraction: Figure,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Kind and configuration, in words (DDR4 4 x 16 GiB 2400 MT/s).
    pub kind: String,
    /// Peak off-chip bandwidth, GB/s (1e9 bytes/s).
    pub bandwidth_gbs: Figure,
    /// Fraction of the peak a streaming kernel sustains.
    pub efficiency: Figure,
    /// Energy of off-chip traffic, pJ per byte moved.
    pub pj_per_byte: Figure,
    /// Host link (PCIe DMA) bandwidth, GB/s, for the end-to-end figure.
    pub pcie_gbs: Figure,
}

/// Power coefficients: static watts and dynamic watts per resource per MHz
/// at 100% toggle rate; dynamic power scales with the toggle rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Power {
    pub static_w: Figure,
    pub toggle_rate: Figure,
    pub lut_uw_per_mhz: Figure,
    pub ff_uw_per_mhz: Figure,
    pub dsp_uw_per_mhz: Figure,
    pub bram_uw_per_mhz: Figure,
    pub uram_uw_per_mhz: Figure,
    /// Board power limit, for a sanity check of the model.
    pub max_board_w: Figure,
}

/// One FPGA card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Card {
    /// Stable id, e.g. `alveo_u250`.
    pub id: String,
    pub name: String,
    pub device: String,
    pub dsp_rule: DspRule,
    /// Kernel clock, MHz.
    pub clock_mhz: Figure,
    /// The fixed-point format kernels run in (`ap_fixed<W,I,Q,O>`).
    pub format: String,
    /// The reuse factor asked for; the model raises it to fit the budget.
    pub reuse_factor: u64,
    pub resources: Resources,
    pub memory: Memory,
    pub power: Power,
    /// Where the card was read from (`builtin:fpga/cards/x.toml` or a path).
    #[serde(skip)]
    pub origin: String,
}

impl Card {
    pub fn parse(text: &str, origin: &str) -> Result<Card> {
        let mut card: Card = toml::from_str(text).map_err(|e| Error::ManifestValue {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        card.origin = origin.to_string();
        card.fixed_format().map_err(|m| Error::ManifestValue {
            path: origin.to_string(),
            message: format!("format: {m}"),
        })?;
        let bad = |m: String| Error::ManifestValue {
            path: origin.to_string(),
            message: m,
        };
        if card.reuse_factor == 0 {
            return Err(bad("reuse_factor must be at least 1".into()));
        }
        for (what, f) in card.figures() {
            if !f.value.is_finite() || f.value < 0.0 {
                return Err(bad(format!(
                    "{what}: {} is not a non-negative number",
                    f.value
                )));
            }
            if f.source.trim().is_empty() {
                return Err(bad(format!(
                    "{what}: every figure needs a source (or 'uncalibrated: why')"
                )));
            }
        }
        // Divisors of the model: zero would make every time infinite.
        for (what, v) in [
            ("clock_mhz", card.clock_mhz.value),
            ("memory.bandwidth_gbs", card.memory.bandwidth_gbs.value),
            ("memory.efficiency", card.memory.efficiency.value),
            ("memory.pcie_gbs", card.memory.pcie_gbs.value),
        ] {
            if v == 0.0 {
                return Err(bad(format!("{what}: must be greater than 0")));
            }
        }
        let u = card.resources.usable_fraction.value;
        if !(0.0..=1.0).contains(&u) || u == 0.0 {
            return Err(bad(format!("usable_fraction {u} is not in (0, 1]")));
        }
        Ok(card)
    }

    pub fn fixed_format(&self) -> std::result::Result<Format, String> {
        Format::parse(&self.format)
    }

    /// Every figure with its name, for reports and checks.
    pub fn figures(&self) -> Vec<(&'static str, &Figure)> {
        let r = &self.resources;
        let m = &self.memory;
        let p = &self.power;
        vec![
            ("clock_mhz", &self.clock_mhz),
            ("resources.lut", &r.lut),
            ("resources.ff", &r.ff),
            ("resources.dsp", &r.dsp),
            ("resources.bram", &r.bram),
            ("resources.bram_kbit", &r.bram_kbit),
            ("resources.bram_read_ports", &r.bram_read_ports),
            ("resources.uram", &r.uram),
            ("resources.usable_fraction", &r.usable_fraction),
            ("memory.bandwidth_gbs", &m.bandwidth_gbs),
            ("memory.efficiency", &m.efficiency),
            ("memory.pj_per_byte", &m.pj_per_byte),
            ("memory.pcie_gbs", &m.pcie_gbs),
            ("power.static_w", &p.static_w),
            ("power.toggle_rate", &p.toggle_rate),
            ("power.lut_uw_per_mhz", &p.lut_uw_per_mhz),
            ("power.ff_uw_per_mhz", &p.ff_uw_per_mhz),
            ("power.dsp_uw_per_mhz", &p.dsp_uw_per_mhz),
            ("power.bram_uw_per_mhz", &p.bram_uw_per_mhz),
            ("power.uram_uw_per_mhz", &p.uram_uw_per_mhz),
            ("power.max_board_w", &p.max_board_w),
        ]
    }
}

/// The shipped cards, then those of `dir` (replacing same ids), in order;
/// the first bad card is the error.
pub fn load(dir: Option<&Path>) -> Result<Vec<Card>> {
    let (cards, mut problems) = load_each(dir);
    match problems.is_empty() {
        true => Ok(cards),
        false => Err(problems.remove(0)),
    }
}

/// As [`load`], but every card that parses is kept and each bad one (or an
/// unreadable `dir`) is returned beside them: one bad card does not hide
/// the others.
pub fn load_each(dir: Option<&Path>) -> (Vec<Card>, Vec<Error>) {
    let mut cards = Vec::new();
    let mut problems = Vec::new();
    for (file, text) in BUILTIN {
        match Card::parse(text, &format!("builtin:fpga/cards/{file}")) {
            Ok(card) => cards.push(card),
            Err(e) => problems.push(e),
        }
    }
    let Some(dir) = dir else {
        return (cards, problems);
    };
    let mut paths: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            problems.push(Error::io(dir, e));
            return (cards, problems);
        }
    };
    paths.sort();
    for path in paths {
        let card = crate::input::read_text(&path, crate::input::TEXT_LIMIT)
            .and_then(|text| Card::parse(&text, &path.display().to_string()));
        match card {
            Ok(card) => match cards.iter_mut().find(|c| c.id == card.id) {
                Some(c) => *c = card,
                None => cards.push(card),
            },
            Err(e) => problems.push(e),
        }
    }
    (cards, problems)
}

/// The directory of extra cards, from `HETBENCH_FPGA_CARDS`.
fn cards_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(CARDS_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
}

/// The cards of this node: shipped, plus `HETBENCH_FPGA_CARDS` if set.
pub fn load_default() -> Result<Vec<Card>> {
    load(cards_dir().as_deref())
}

/// As [`load_default`], keeping the good cards beside the bad ones' errors.
pub fn load_default_each() -> (Vec<Card>, Vec<Error>) {
    load_each(cards_dir().as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_cards_parse_with_sources() {
        let cards = load(None).unwrap();
        let ids: Vec<_> = cards.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["alveo_u250", "alveo_u55c", "agilex7_agi027"]);
        let u250 = &cards[0];
        assert_eq!(u250.resources.dsp.value, 12_288.0);
        assert!(u250.resources.dsp.calibrated());
        assert!(!u250.power.dsp_uw_per_mhz.calibrated());
        assert_eq!(cards[1].memory.bandwidth_gbs.value, 460.0);
    }

    #[test]
    fn dsp_rules() {
        assert_eq!(DspRule::UltrascalePlus.blocks(18, 18), 1.0);
        assert_eq!(DspRule::UltrascalePlus.blocks(27, 18), 1.0);
        assert_eq!(DspRule::UltrascalePlus.blocks(32, 32), 4.0); // 2 x 2
        assert_eq!(DspRule::UltrascalePlus.blocks(28, 18), 2.0);
        assert_eq!(DspRule::Agilex.blocks(18, 18), 0.5);
        assert_eq!(DspRule::Agilex.blocks(27, 27), 1.0);
        assert_eq!(DspRule::Agilex.blocks(32, 32), 2.0);
    }

    #[test]
    fn a_directory_card_replaces_a_shipped_one_and_bad_cards_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let text = BUILTIN[0]
            .1
            .replace("clock_mhz = { value = 300.0", "clock_mhz = { value = 250.0");
        std::fs::write(dir.path().join("mine.toml"), &text).unwrap();
        let cards = load(Some(dir.path())).unwrap();
        assert_eq!(cards.len(), 3);
        assert_eq!(cards[0].clock_mhz.value, 250.0);
        assert!(cards[0].origin.ends_with("mine.toml"));

        let no_source = BUILTIN[0].1.replace(
            "source = \"UG1393/UG1702 platforminfo 'Clock Information': Alveo XDMA platforms' default kernel clock (index 0) is 300 MHz (the guides' example output, not this card's platforminfo)\"",
            "source = \" \"",
        );
        assert_ne!(no_source, BUILTIN[0].1);
        std::fs::write(dir.path().join("mine.toml"), no_source).unwrap();
        let err = load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("needs a source"), "{err}");
    }

    #[test]
    fn a_zero_clock_or_bandwidth_is_refused() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fpga/cards/alveo_u250.toml"),
        )
        .unwrap();
        for (from, field) in [
            ("clock_mhz = { value = 300.0", "clock_mhz = { value = 0.0"),
            (
                "bandwidth_gbs = { value = 77.0",
                "bandwidth_gbs = { value = 0.0",
            ),
        ] {
            let bad = text.replace(from, field);
            assert_ne!(bad, text, "{from}");
            let err = Card::parse(&bad, "u250-test.toml").unwrap_err().to_string();
            assert!(
                err.contains("u250-test.toml") && err.contains("greater than 0"),
                "{err}"
            );
        }
    }
}
