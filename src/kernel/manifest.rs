//! `kernel.toml` manifests: what a kernel is, its sizes, units and tolerance.
//!
//! Manifests are data, not code, so that sizes and tolerances can be read
//! and reviewed without reading Rust; they are embedded in the binary at
//! build time and can be overridden from a directory (`--kernels-dir`) when
//! developing a kernel. Every error names the file, and the line where TOML
//! gives one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The scientific domain a kernel stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Simulation,
    Reconstruction,
    Ml,
    Micro,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Simulation => "simulation",
            Domain::Reconstruction => "reconstruction",
            Domain::Ml => "ml",
            Domain::Micro => "micro",
        }
    }

    pub const ALL: [Domain; 4] = [
        Domain::Simulation,
        Domain::Reconstruction,
        Domain::Ml,
        Domain::Micro,
    ];

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == name)
            .ok_or_else(|| Error::UnknownName {
                what: "domain",
                name: name.to_string(),
                valid: Self::ALL.map(|d| d.as_str()).join(", "),
            })
    }
}

/// The number format a kernel variant computes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F64,
    /// Integer arithmetic (32-bit): kernels whose results are exact, such
    /// as fixed-point Hough transforms, are neither f32 nor f64.
    U32,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::F64, Precision::U32];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
            Precision::U32 => "u32",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| Error::UnknownName {
                what: "precision",
                name: name.to_string(),
                valid: Self::ALL.map(|p| p.as_str()).join(", "),
            })
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which part of the work model the throughput is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Flops,
    Bytes,
    Items,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// What is counted: FLOP, bytes moved or the kernel's items.
    pub metric: Metric,
    /// The unit throughput is reported in, e.g. `GFLOP/s`.
    pub unit: String,
    /// Divisor from (metric per second) to the unit, e.g. 1e9 for `G`.
    pub scale: f64,
}

/// Verification tolerance: an output passes when
/// `|out - ref| <= abs + rel * scale`, with the kernel's per-element scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

/// A size parameter: an integer (`n = 1024`) or a real (`softening = 0.01`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Param {
    Int(i64),
    Float(f64),
}

/// By hand rather than `untagged`, so that a string or a table is refused
/// saying what a parameter must be, not "did not match any variant".
impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Number;
        impl serde::de::Visitor<'_> for Number {
            type Value = Param;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number (an integer such as 1024 or a real such as 0.01)")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Param, E> {
                Ok(Param::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Param, E> {
                i64::try_from(v)
                    .map(Param::Int)
                    .map_err(|_| E::custom(format!("{v} is too large for a size parameter")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Param, E> {
                Ok(Param::Float(v))
            }
        }
        d.deserialize_any(Number)
    }
}

/// One named size of a kernel with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeSpec {
    pub name: String,
    pub params: BTreeMap<String, Param>,
    /// Where the parameters came from, for error messages.
    #[serde(skip)]
    pub source: String,
}

impl SizeSpec {
    /// A positive integer parameter, bounded by `max`.
    pub fn usize(&self, key: &str, max: usize) -> Result<usize> {
        match self.params.get(key) {
            Some(Param::Int(v)) if *v >= 1 && (*v as u128) <= max as u128 => Ok(*v as usize),
            Some(Param::Int(v)) => Err(self.bad(key, &format!("{v} is outside 1..={max}"))),
            Some(Param::Float(v)) => Err(self.bad(key, &format!("{v} must be an integer"))),
            None => Err(self.bad(key, "missing")),
        }
    }

    /// A finite real parameter within `range`.
    pub fn f64(&self, key: &str, range: std::ops::RangeInclusive<f64>) -> Result<f64> {
        let v = match self.params.get(key) {
            Some(Param::Int(v)) => *v as f64,
            Some(Param::Float(v)) => *v,
            None => return Err(self.bad(key, "missing")),
        };
        if v.is_finite() && range.contains(&v) {
            Ok(v)
        } else {
            Err(self.bad(
                key,
                &format!("{v} is outside {}..={}", range.start(), range.end()),
            ))
        }
    }

    fn bad(&self, key: &str, message: &str) -> Error {
        Error::ManifestValue {
            path: self.source.clone(),
            message: format!("sizes.{}.{key}: {message}", self.name),
        }
    }
}

/// The parsed `kernel.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelManifest {
    pub name: String,
    pub version: String,
    pub domain: Domain,
    pub summary: String,
    pub precisions: Vec<Precision>,
    pub throughput: Throughput,
    pub tolerance: Tolerance,
    /// The tolerance of the f64 variant (`[tolerance_f64]`), required when
    /// `precisions` lists f64: an f64 result verified with the f32 bound
    /// would pass even if it had been computed in f32.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_f64: Option<Tolerance>,
    pub sizes: BTreeMap<String, BTreeMap<String, Param>>,
}

/// The size names every manifest must define, smallest first. `tiny` is
/// for tests and smoke checks: it runs in milliseconds everywhere and is
/// ragged against GPU tiles, so conformance tests exercise the edges.
pub const SIZE_NAMES: [&str; 4] = ["tiny", "small", "medium", "large"];

/// The optional size beyond `large`, for the kernels whose `large` does
/// not fill the biggest devices (a 141 GB GPU): run only when named
/// (`--size xlarge`, never by `all`) and by the kernels that define it.
/// Like every size it must launch within the common limits; memory a
/// device or host lacks for it is a skip with the reason, as for any size.
pub const XLARGE: &str = "xlarge";

/// Whether `size` is the optional [`XLARGE`].
pub fn is_optional_size(size: &str) -> bool {
    size == XLARGE
}

impl KernelManifest {
    /// Parses and validates a manifest. `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let manifest: KernelManifest =
            toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        manifest.validate(path)?;
        Ok(manifest)
    }

    fn validate(&self, path: &str) -> Result<()> {
        let bad = |message: String| Error::ManifestValue {
            path: path.to_string(),
            message,
        };
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(bad(format!(
                "name '{}' must be lowercase letters, digits and '_'",
                self.name
            )));
        }
        if self.precisions.is_empty() {
            return Err(bad("precisions: at least one precision is needed".into()));
        }
        if !(self.throughput.scale.is_finite() && self.throughput.scale > 0.0) {
            return Err(bad(format!(
                "throughput.scale: {} must be a positive number",
                self.throughput.scale
            )));
        }
        let mut seen = Vec::new();
        for p in &self.precisions {
            if seen.contains(p) {
                return Err(bad(format!("precisions: '{}' is listed twice", p.as_str())));
            }
            seen.push(*p);
        }
        for (table, tol) in [
            ("tolerance", Some(self.tolerance)),
            ("tolerance_f64", self.tolerance_f64),
        ] {
            let Some(tol) = tol else { continue };
            if !(tol.rel.is_finite() && tol.rel >= 0.0 && tol.abs.is_finite() && tol.abs >= 0.0) {
                return Err(bad(format!(
                    "{table}: rel ({}) and abs ({}) must be non-negative numbers",
                    tol.rel, tol.abs
                )));
            }
        }
        match (
            self.precisions.contains(&Precision::F64),
            self.tolerance_f64,
        ) {
            (true, None) => {
                return Err(bad(
                    "tolerance_f64: missing; a kernel with precision f64 states the f64 \
                     variant's tolerance in a [tolerance_f64] table"
                        .into(),
                ));
            }
            (false, Some(_)) => {
                return Err(bad(
                    "tolerance_f64: given, but precisions does not list f64".into(),
                ));
            }
            _ => {}
        }
        for size in SIZE_NAMES {
            if !self.sizes.contains_key(size) {
                return Err(bad(format!(
                    "sizes.{size}: missing; every kernel defines {}",
                    SIZE_NAMES.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// The precision a run uses unless told otherwise: the first listed.
    pub fn default_precision(&self) -> Precision {
        self.precisions.first().copied().unwrap_or(Precision::F32)
    }

    /// The verification tolerance of the variant in `precision`.
    pub fn tolerance_for(&self, precision: Precision) -> Tolerance {
        match (precision, self.tolerance_f64) {
            (Precision::F64, Some(t)) => t,
            _ => self.tolerance,
        }
    }

    /// The size named `name`, with `source` recorded for later errors.
    pub fn size(&self, name: &str, source: &str) -> Option<SizeSpec> {
        self.sizes.get(name).map(|params| SizeSpec {
            name: name.to_string(),
            params: params.clone(),
            source: source.to_string(),
        })
    }

    /// Size names in order: tiny, small, medium, large, then any extra
    /// ones (`xlarge` where defined).
    pub fn size_names(&self) -> Vec<String> {
        let mut names: Vec<String> = SIZE_NAMES.iter().map(|s| s.to_string()).collect();
        names.extend(
            self.sizes
                .keys()
                .filter(|k| !SIZE_NAMES.contains(&k.as_str()))
                .cloned(),
        );
        names
    }
}

/// 1-based line and column of byte offset `offset` in `text`.
/// A TOML parse error as [`Error::Manifest`], with the line and column of
/// its span in `text` (exit 2).
pub(crate) fn toml_error(text: &str, path: &str, e: &toml::de::Error) -> Error {
    let (line, column) = e
        .span()
        .map(|span| line_column(text, span.start))
        .unwrap_or((1, 1));
    Error::Manifest {
        path: path.to_string(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "k"
version = "1"
domain = "ml"
summary = "s"
precisions = ["f32"]
[throughput]
metric = "flops"
unit = "GFLOP/s"
scale = 1e9
[tolerance]
rel = 1e-4
abs = 0.0
[sizes.tiny]
n = 3
[sizes.small]
n = 4
[sizes.medium]
n = 8
[sizes.large]
n = 16
x = 0.5
"#;

    #[test]
    fn parses_a_good_manifest() {
        let m = KernelManifest::parse(GOOD, "k/kernel.toml").unwrap();
        assert_eq!(m.domain, Domain::Ml);
        let large = m.size("large", "k/kernel.toml").unwrap();
        assert_eq!(large.usize("n", 100).unwrap(), 16);
        assert_eq!(large.f64("x", 0.0..=1.0).unwrap(), 0.5);
        assert_eq!(m.size_names(), vec!["tiny", "small", "medium", "large"]);
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = GOOD.replace("unit = \"GFLOP/s\"", "unit = GFLOP/s");
        let err = KernelManifest::parse(&text, "k/kernel.toml").unwrap_err();
        match err {
            Error::Manifest { path, line, .. } => {
                assert_eq!(path, "k/kernel.toml");
                assert_eq!(line, 9);
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn missing_size_and_unknown_field_are_refused() {
        let text = GOOD.replace("[sizes.medium]\nn = 8\n", "");
        let err = KernelManifest::parse(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sizes.medium: missing"), "{err}");

        let text = GOOD.replace("summary = \"s\"", "summary = \"s\"\nsumary = \"typo\"");
        let err = KernelManifest::parse(&text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:6:"), "{err}");
        assert!(err.contains("sumary"), "{err}");
    }

    #[test]
    fn f64_needs_its_own_tolerance_and_picks_it() {
        let f64_without = GOOD.replace(r#"precisions = ["f32"]"#, r#"precisions = ["f32", "f64"]"#);
        let err = KernelManifest::parse(&f64_without, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tolerance_f64: missing"), "{err}");

        let f64_with = f64_without.replace(
            "[sizes.tiny]",
            "[tolerance_f64]\nrel = 1e-12\nabs = 0.0\n[sizes.tiny]",
        );
        let m = KernelManifest::parse(&f64_with, "m.toml").unwrap();
        assert_eq!(m.default_precision(), Precision::F32);
        assert_eq!(m.tolerance_for(Precision::F32).rel, 1e-4);
        assert_eq!(m.tolerance_for(Precision::F64).rel, 1e-12);

        let stray = GOOD.replace(
            "[sizes.tiny]",
            "[tolerance_f64]\nrel = 1e-12\nabs = 0.0\n[sizes.tiny]",
        );
        let err = KernelManifest::parse(&stray, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("precisions does not list f64"), "{err}");

        let twice = GOOD.replace(r#"precisions = ["f32"]"#, r#"precisions = ["u32", "u32"]"#);
        let err = KernelManifest::parse(&twice, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'u32' is listed twice"), "{err}");

        let negative = f64_with.replace("rel = 1e-12", "rel = -1.0");
        let err = KernelManifest::parse(&negative, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tolerance_f64: rel (-1)"), "{err}");
        assert_eq!(
            Precision::parse("f16").unwrap_err().to_string(),
            "unknown precision 'f16'; valid precisions: f32, f64, u32"
        );
    }

    #[test]
    fn size_parameters_are_range_checked() {
        let m = KernelManifest::parse(GOOD, "k.toml").unwrap();
        let large = m.size("large", "k.toml").unwrap();
        let err = large.usize("n", 10).unwrap_err().to_string();
        assert_eq!(err, "k.toml: sizes.large.n: 16 is outside 1..=10");
        assert!(large.usize("x", 10).is_err());
        assert!(
            large
                .usize("missing", 10)
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
    }
}
