//! The FPGA-emulated backend: one device per card (`fpga0`, ...).
//!
//! `prepare` executes the kernel bit-accurately in the card's fixed-point
//! format (the kernel's own `reference_generic` over `ap_fixed`), verifies
//! the outputs against the f64 reference with the format's tolerance
//! (reported as the accuracy), and evaluates the timing and power model of
//! the kernel's pipelined design on the card. `run` executes nothing: it
//! returns the modeled device time (`device_s`, modeled seconds x iters)
//! and, as `host_s`, the host wall time of the call itself. Host time is
//! never FPGA time; the emulation's own wall time is in the report
//! (`emulation_s`). Kernels without a fixed-point path are unsupported
//! (skipped with the reason). See `src/fpga/mod.rs`.

use std::time::Instant;

use crate::backends::{
    Backend, BackendKind, Device, DeviceType, ModeledFigures, Prepared, Timing, Unavailable,
};
use crate::error::{Error, Result};
use crate::fpga::{self, Card, MODEL_VERSION};
use crate::kernel::fpga::{Accuracy, ModelReport};
use crate::kernel::{Buffers, Inputs, Tolerance};
use crate::kernels::RegisteredKernel;

pub struct FpgaEmuBackend {
    cards: Vec<Card>,
}

impl FpgaEmuBackend {
    /// The shipped cards and those of `HETBENCH_FPGA_CARDS` that parse (a
    /// run refuses bad cards before it starts; `info` lists them).
    pub fn new() -> std::result::Result<Self, Unavailable> {
        let (cards, problems) = fpga::card::load_default_each();
        if let (true, Some(e)) = (cards.is_empty(), problems.first()) {
            return Err(Unavailable {
                reason: format!("device cards: {e}"),
            });
        }
        Ok(Self::with_cards(cards))
    }

    pub fn with_cards(cards: Vec<Card>) -> Self {
        FpgaEmuBackend { cards }
    }

    fn device(i: usize, card: &Card) -> Device {
        Device {
            backend: BackendKind::FpgaEmu,
            id: format!("fpga{i}"),
            name: format!("{} (emulated)", card.name),
            device_type: DeviceType::FpgaEmulated,
            driver: format!("card {} ({}, {})", card.origin, card.device, card.format),
            api: format!("emulated (model v{MODEL_VERSION})"),
            compute_units: crate::fpga::model::Usage::available(card).dsp as u32,
            // Modeled designs stream from the card's memory: no cache.
            last_level_cache_bytes: None,
        }
    }
}

impl Backend for FpgaEmuBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::FpgaEmu
    }

    fn devices(&self) -> std::result::Result<Vec<Device>, Unavailable> {
        if self.cards.is_empty() {
            return Err(Unavailable {
                reason: "no device cards".into(),
            });
        }
        Ok(self
            .cards
            .iter()
            .enumerate()
            .map(|(i, c)| Self::device(i, c))
            .collect())
    }

    fn prepare(
        &self,
        kernel: &RegisteredKernel,
        device: &Device,
        inputs: &Inputs,
    ) -> Result<Box<dyn Prepared>> {
        if inputs.precision() != crate::kernel::Precision::F32 {
            return Err(Error::Unsupported {
                backend: "fpga-emu".into(),
                message: format!(
                    "the emulation computes in the card's fixed-point format, not {}: \
                     run the f32 variant",
                    inputs.precision().as_str()
                ),
            });
        }
        let card = self
            .cards
            .iter()
            .enumerate()
            .find(|(i, _)| format!("fpga{i}") == device.id)
            .map(|(_, c)| c)
            .ok_or_else(|| Error::Backend {
                backend: "fpga-emu".into(),
                message: format!("no device '{}'", device.id),
            })?;
        let adapter = kernel.kernel.fpga().ok_or_else(|| Error::Unsupported {
            backend: "fpga-emu".into(),
            message: format!(
                "kernel '{}' has no fixed-point path (Kernel::fpga){}",
                kernel.name(),
                kernel
                    .kernel
                    .fpga_absent_reason()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        })?;
        let card_fmt = card.fixed_format().map_err(|m| Error::Backend {
            backend: "fpga-emu".into(),
            message: format!("{}: format: {m}", card.origin),
        })?;
        // A kernel the card's format cannot represent runs in its own.
        let (fmt, why) = adapter.format(card_fmt);
        let mut design = adapter.design(card, &fmt, inputs)?;
        if let Some(why) = why {
            design.notes.insert(0, why);
        }
        let eval = fpga::model::evaluate(card, &fmt, &design);

        let start = Instant::now();
        // An exact accumulator beyond 127 bits stops the emulation rather
        // than wrap (fpga::fixed::WideOverflow): an error of this result.
        let outputs =
            fpga::fixed::catch_overflow(|| adapter.emulate(inputs, fmt)).map_err(|e| {
                Error::Backend {
                    backend: "fpga-emu".into(),
                    message: format!("kernel '{}' in {fmt}: {e}", kernel.name()),
                }
            })??;
        let emulation_s = start.elapsed().as_secs_f64();
        let (tolerance, derivation) = adapter.tolerance(inputs, &fmt)?;
        let accuracy = kernel.kernel.verify(inputs, &outputs, tolerance)?;

        let work = kernel.kernel.work(&inputs.size)?;
        let (seconds, energy_j, end_to_end_s) = (eval.latency_s, eval.energy_j, eval.end_to_end_s);
        let report = ModelReport {
            card_format: (fmt != card_fmt).then(|| card_fmt.name()),
            accuracy: Accuracy {
                against: "f64 reference".into(),
                max_abs_error: accuracy.max_abs_error,
                max_rel_error: accuracy.max_rel_error,
                rel_error_of: adapter.rel_error_of().into(),
                checked: accuracy.checked,
                within_tolerance: accuracy.passed,
                detail: accuracy.detail.clone(),
                top_class_agreement: accuracy.agreement,
                tolerance,
                tolerance_derivation: derivation,
            },
            energy_per_item_j: energy_j / work.items.max(1.0),
            item_unit: work.item_unit,
            emulation_s,
            timing: "modeled: device time = latency_s per iteration; end-to-end = latency + host bytes over memory.pcie_gbs".into(),
            evaluation: eval,
        };
        if let Some(path) = non_finite(&serde_json::to_value(&report)?, String::new()) {
            return Err(Error::Backend {
                backend: "fpga-emu".into(),
                message: format!(
                    "{} on card {} ({}): the model gives a non-finite {path}; check the card's figures",
                    kernel.name(),
                    card.id,
                    card.origin
                ),
            });
        }
        let figures = ModeledFigures {
            meter: format!("model:{}", card.id),
            covers: format!(
                "{} board: static + dynamic of the design + off-chip traffic (model v{MODEL_VERSION})",
                card.name
            ),
            seconds,
            energy_j,
            report,
            verdict: accuracy,
        };
        Ok(Box::new(FpgaPrepared {
            outputs,
            latency_s: seconds,
            end_to_end_s,
            tolerance,
            figures,
        }))
    }
}

/// The path of the first non-finite number in a serialised model report
/// (`serde_json` writes infinities and NaN as `null`, and the report has no
/// other `null`): stored, it would not read back as a number.
fn non_finite(v: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::Null => Some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| non_finite(x, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, x)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            non_finite(x, path)
        }),
        _ => None,
    }
}

struct FpgaPrepared {
    outputs: Buffers,
    latency_s: f64,
    end_to_end_s: f64,
    tolerance: Tolerance,
    figures: ModeledFigures,
}

impl Prepared for FpgaPrepared {
    fn run(&mut self, iters: u64) -> Result<Timing> {
        let start = Instant::now();
        let device_s = self.latency_s * iters as f64;
        // The call's own wall time; a clock read below the timer's
        // resolution counts as one nanosecond.
        let host_s = start.elapsed().as_secs_f64().max(1e-9);
        Ok(Timing {
            host_s,
            device_s: Some(device_s),
        })
    }

    fn read_back(&mut self) -> Result<Buffers> {
        Ok(self.outputs.clone())
    }

    /// Modeled: upload, one invocation, read-back over the host link.
    fn end_to_end(&mut self) -> Result<Option<f64>> {
        Ok(Some(self.end_to_end_s))
    }

    fn modeled(&self) -> Option<ModeledFigures> {
        Some(self.figures.clone())
    }

    fn tolerance(&self, _manifest: Tolerance) -> Tolerance {
        self.tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Param;
    use crate::kernels::Registry;

    fn gemm_inputs(reg: &Registry, n: i64) -> Inputs {
        let k = reg.get("gemm").unwrap();
        let mut size = k.size("tiny").unwrap();
        size.params.insert("n".into(), Param::Int(n));
        k.kernel.generate(&size, 7).unwrap()
    }

    /// gemm n = 64 on the U250 at R = 1, by hand: 4096 multipliers (one
    /// DSP48E2 each for 18x18); load B: 4096 values at floor(77e9 * 0.85 /
    /// 300e6 / 4) = 54 per cycle = 76 trips, 75 + 64 = 139 cycles; rows:
    /// depth 1 + 3 + 2 + 2 = 8, 63 * 1 + 8 = 71 cycles; 210 cycles = 700 ns
    /// at 300 MHz (memory: 3 * 4096 * 4 B / 65.45 GB/s = 751 ns, so memory
    /// bound). Power: 30 W static + dynamic 0.125 * 300 * 1e-6 * (LUT
    /// 177032 * 0.3 + FF 8000 + 4096 * 114 ... ) per the card.
    #[test]
    fn gemm_64_on_u250_by_hand() {
        let reg = Registry::builtin().unwrap();
        let backend = FpgaEmuBackend::new().unwrap();
        let devices = backend.devices().unwrap();
        assert_eq!(devices.len(), 3);
        assert_eq!(devices[0].device_type, DeviceType::FpgaEmulated);
        assert_eq!(devices[0].api, format!("emulated (model v{MODEL_VERSION})"));
        let inputs = gemm_inputs(&reg, 64);
        let mut p = backend
            .prepare(reg.get("gemm").unwrap(), &devices[0], &inputs)
            .unwrap();
        let f = p.modeled().unwrap();
        let r = &serde_json::to_value(&f.report).unwrap();
        assert_eq!(r["usage"]["dsp"], 4096.0);
        assert_eq!(r["reuse_factor"], 1);
        assert_eq!(r["compute_cycles"], 139 + 71);
        let memory_s = 3.0 * 4096.0 * 4.0 / (77e9 * 0.85);
        assert!((f.seconds - memory_s).abs() < 1e-15, "{}", f.seconds);
        assert_eq!(r["bound"], "memory");
        let lut = 5000.0 + 4096.0 * 42.0;
        let ff = 8000.0 + 4096.0 * (42.0 + 36.0) + 4096.0 * 18.0;
        let dynamic = 0.125 * 300.0 * 1e-6 * (lut * 0.30 + ff * 0.05 + 4096.0 * 6.5);
        let offchip = 3.0 * 4096.0 * 4.0 * 160e-12 / memory_s;
        let total = 30.0 + dynamic + offchip;
        assert!((r["power"]["total_w"].as_f64().unwrap() - total).abs() < 1e-9);
        assert!((f.energy_j - total * memory_s).abs() < 1e-15);
        // Timing is modeled, never host time.
        let t = p.run(1000).unwrap();
        assert_eq!(t.device_s, Some(memory_s * 1000.0));
        // Outputs pass the format's tolerance and carry the accuracy.
        let tol = p.tolerance(reg.get("gemm").unwrap().manifest.tolerance);
        assert!(tol.abs > 0.0);
        let out = p.read_back().unwrap();
        let v = reg
            .get("gemm")
            .unwrap()
            .kernel
            .verify(&inputs, &out, tol)
            .unwrap();
        assert!(v.passed, "{v:?}");
        let acc = &r["accuracy"];
        assert!(
            acc["max_abs_error"].as_f64().unwrap() > 0.0,
            "fixed point is not exact"
        );
        assert!(acc["max_abs_error"].as_f64().unwrap() < tol.abs);
    }

    #[test]
    fn corrupted_fixed_point_output_fails_the_format_tolerance() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("stream_triad").unwrap();
        let inputs = k.kernel.generate(&k.size("tiny").unwrap(), 3).unwrap();
        let backend = FpgaEmuBackend::new().unwrap();
        let dev = &backend.devices().unwrap()[1];
        let mut p = backend.prepare(k, dev, &inputs).unwrap();
        let tol = p.tolerance(k.manifest.tolerance);
        // ap_fixed<18,8> RND_CONV: e = 2^-11; abs = 5e.
        assert_eq!(tol.abs, 5.0 / 2048.0);
        let mut out = p.read_back().unwrap();
        assert!(k.kernel.verify(&inputs, &out, tol).unwrap().passed);
        // The fixed-point result is not the float one: the manifest's f32
        // tolerance rejects it, which is why the format's tolerance exists.
        assert!(
            !k.kernel
                .verify(&inputs, &out, k.manifest.tolerance)
                .unwrap()
                .passed
        );
        if let Some(crate::kernel::Buffer::F32(a)) = out.get_mut("a") {
            a[17] += 0.01;
        }
        assert!(!k.kernel.verify(&inputs, &out, tol).unwrap().passed);
    }

    #[test]
    fn kernels_without_a_fixed_point_path_are_unsupported() {
        let reg = Registry::builtin().unwrap();
        // mc_transport is the kernel left without one (its README says why).
        let k = reg.get("mc_transport").unwrap();
        let inputs = k.kernel.generate(&k.size("tiny").unwrap(), 3).unwrap();
        let backend = FpgaEmuBackend::new().unwrap();
        let dev = &backend.devices().unwrap()[0];
        match backend.prepare(k, dev, &inputs) {
            Err(Error::Unsupported { message, .. }) => {
                assert!(message.contains("no fixed-point path"), "{message}");
                assert!(message.contains("needs log and exp"), "{message}");
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("mc_transport has no fixed-point path"),
        }
    }

    /// A figure the model cannot turn into a number (here, a card made
    /// without `Card::parse`'s checks, with no memory bandwidth) is refused
    /// with its path, never stored as a `null` that would not read back.
    #[test]
    fn a_non_finite_model_figure_is_refused_with_its_path() {
        let reg = Registry::builtin().unwrap();
        let k = reg.get("stream_triad").unwrap();
        let inputs = k.kernel.generate(&k.size("tiny").unwrap(), 3).unwrap();
        let mut card = crate::fpga::card::load(None).unwrap().remove(0);
        card.memory.bandwidth_gbs.value = 0.0;
        let backend = FpgaEmuBackend { cards: vec![card] };
        let dev = &backend.devices().unwrap()[0];
        let err = backend.prepare(k, dev, &inputs).err().unwrap().to_string();
        assert!(
            err.contains("non-finite") && err.contains("alveo_u250"),
            "{err}"
        );
    }

    #[test]
    fn non_finite_names_the_first_null() {
        let v = serde_json::json!({"a": 1.0, "b": {"c": [2.0, null]}});
        assert_eq!(non_finite(&v, String::new()).as_deref(), Some("b.c[1]"));
        assert_eq!(
            non_finite(&serde_json::json!({"a": [1]}), String::new()),
            None
        );
    }
}
