//! The site economics file (`--economics FILE`, TOML): what a node costs to
//! buy, keep, power and cool, and what it emits, per platform and per site.
//! `hetbench cost` turns it and the measured work and energy into cost and
//! carbon per unit of work (see [`crate::report::cost`]).
//!
//! Every figure keeps where it came from ([`Origin`]): given in the file
//! (with its line), a shipped default (with its source), or estimated from
//! the shipped table of embodied emissions per component class (with its
//! source, labelled estimated). Defaults are overridden by giving the field.
//! A bad field is an error naming the file, the line and the field (exit 2).
//!
//! ```toml
//! [site]
//! electricity_eur_per_kwh = 0.18   # required: prices swing, no default
//! utilisation = 0.8                # required: share of the time the node works
//! pue = 1.4                        # default 1.58 (Uptime Institute 2023)
//! grid_gco2e_per_kwh = 32          # default 32 (RTE, French grid, 2023)
//! idle_w = 120                     # optional: when the records carry no idle baseline
//!
//! [[platform]]
//! match = "node01"                 # label, host, platform hash (6+ digits) or host/backend:device
//! purchase_eur = 12000
//! maintenance_eur_per_year = 600
//! lifetime_years = 5
//! rack_units = 1
//! embodied_kgco2e = 1500           # or: components = { server-2socket = 1, gpu = 4 }
//! hs23 = 1200                      # optional HS23 figure of the node, or:
//! # hs23_report = "wn01-hepscore.json"  # its HEP Benchmark Suite report (relative to this file)
//! idle_w = 150                     # optional: overrides the measured idle baseline
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::error::{Error, Result};
use crate::report::data::Subject;

/// Where an input figure came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Origin {
    /// Given in the economics file, at this line.
    Given { line: usize },
    /// A shipped default, with its source.
    Default { source: &'static str },
    /// Estimated from the shipped table of defaults (each term's source).
    Estimated { source: String },
    /// Measured: the idle baseline stored with the results.
    Measured { meter: String },
    /// Read from another tool's report (a HEP Benchmark Suite JSON report
    /// named by `hs23_report`), with where.
    Report { source: String },
}

impl Origin {
    /// `given (line 4)`, `default: SOURCE`, `ESTIMATED: SOURCE`, `measured`,
    /// `from SOURCE`.
    pub fn text(&self) -> String {
        match self {
            Origin::Given { line } => format!("given (line {line})"),
            Origin::Default { source } => format!("default: {source}"),
            Origin::Estimated { source } => format!("ESTIMATED: {source}"),
            Origin::Measured { meter } => format!("measured idle baseline ({meter})"),
            Origin::Report { source } => format!("from {source}"),
        }
    }
}

/// One input figure and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Input {
    pub value: f64,
    pub origin: Origin,
}

/// The site: the same for every platform.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    pub pue: Input,
    pub electricity_eur_per_kwh: Input,
    pub grid_gco2e_per_kwh: Input,
    /// Share of the time a node works, in (0, 1].
    pub utilisation: Input,
    /// Idle power for platforms without a measured baseline or their own.
    pub idle_w: Option<Input>,
}

/// One platform's economics, matched to devices like `--baseline`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlatformEconomics {
    /// What it matches (see [`Subject::matches`]).
    pub pattern: String,
    pub line: usize,
    pub purchase_eur: Input,
    pub maintenance_eur_per_year: Input,
    pub lifetime_years: Input,
    pub rack_units: Input,
    pub embodied_kgco2e: Input,
    pub hs23: Option<Input>,
    pub idle_w: Option<Input>,
}

/// A parsed and checked economics file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Economics {
    pub path: String,
    pub site: Site,
    pub platforms: Vec<PlatformEconomics>,
}

/// Mean data-centre PUE, shipped as the default.
pub const DEFAULT_PUE: (f64, &str) = (
    1.58,
    "Uptime Institute, Global Data Center Survey 2023: industry-average annual PUE 1.58",
);

/// Mean carbon intensity of the French grid, shipped as the default.
pub const DEFAULT_GRID: (f64, &str) = (
    32.0,
    "RTE, Bilan electrique 2023: mean intensity of French electricity production, 32 gCO2eq/kWh (direct emissions, no life-cycle share)",
);

/// Embodied emissions per component class: (class, kgCO2e, source). Rough
/// orders of magnitude: every figure computed from them is labelled
/// estimated; give `embodied_kgco2e` where the vendor publishes a PCF.
pub const EMBODIED_DEFAULTS: [(&str, f64, &str); 3] = [
    (
        "server-2socket",
        636.0,
        "10% of the 6360 kgCO2eq life cycle of a Dell PowerEdge R710 2U 2-socket server (Dell/PE International white paper, 2011: use phase over 90%); an upper bound for manufacture and transport",
    ),
    (
        "gpu",
        318.0,
        "318 kgCO2 per data-centre GPU, 1/8 of an 8-GPU A100 instance with its host (Chien et al., HotCarbon '23)",
    ),
    (
        "accelerator-card",
        60.0,
        "60 kgCO2e per powerful PCIe card, +/-60% (CNRS EcoInfo, EcoDiag 'GPU puissant' class); used for FPGA and other add-in cards",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    site: RawSite,
    #[serde(default, rename = "platform")]
    platforms: Vec<RawPlatform>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    pue: Option<Spanned<f64>>,
    electricity_eur_per_kwh: Spanned<f64>,
    grid_gco2e_per_kwh: Option<Spanned<f64>>,
    utilisation: Spanned<f64>,
    idle_w: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    purchase_eur: Spanned<f64>,
    maintenance_eur_per_year: Spanned<f64>,
    lifetime_years: Spanned<f64>,
    rack_units: Spanned<f64>,
    embodied_kgco2e: Option<Spanned<f64>>,
    components: Option<Spanned<BTreeMap<String, u32>>>,
    hs23: Option<Spanned<f64>>,
    hs23_report: Option<Spanned<String>>,
    idle_w: Option<Spanned<f64>>,
}

/// What a field's value must be.
#[derive(Clone, Copy)]
enum Range {
    /// `>= 0`.
    NonNegative,
    /// `> 0`.
    Positive,
    /// `min <= x <= max`.
    Within(f64, f64),
    /// `0 < x <= 1`.
    Share,
}

impl Range {
    fn admits(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::NonNegative => x >= 0.0,
                Range::Positive => x > 0.0,
                Range::Within(lo, hi) => lo <= x && x <= hi,
                Range::Share => x > 0.0 && x <= 1.0,
            }
    }

    fn text(self) -> String {
        match self {
            Range::NonNegative => "a finite number >= 0".into(),
            Range::Positive => "a finite number > 0".into(),
            Range::Within(lo, hi) => format!("a number from {lo} to {hi}"),
            Range::Share => "a share in (0, 1]".into(),
        }
    }
}

/// Parses with the text at hand, so that errors give lines.
struct Parser<'a> {
    text: &'a str,
    path: &'a str,
}

impl Parser<'_> {
    fn line(&self, offset: usize) -> usize {
        crate::kernel::manifest::line_column(self.text, offset).0
    }

    fn error(&self, offset: usize, field: &str, message: String) -> Error {
        let (line, column) = crate::kernel::manifest::line_column(self.text, offset);
        Error::Manifest {
            path: self.path.to_string(),
            line,
            column,
            message: format!("field `{field}`: {message}"),
        }
    }

    fn given(&self, v: &Spanned<f64>, field: &str, range: Range) -> Result<Input> {
        let value = *v.get_ref();
        if !range.admits(value) {
            return Err(self.error(
                v.span().start,
                field,
                format!("{value} is not {}", range.text()),
            ));
        }
        Ok(Input {
            value,
            origin: Origin::Given {
                line: self.line(v.span().start),
            },
        })
    }

    fn or_default(
        &self,
        v: &Option<Spanned<f64>>,
        field: &str,
        range: Range,
        default: (f64, &'static str),
    ) -> Result<Input> {
        match v {
            Some(v) => self.given(v, field, range),
            None => Ok(Input {
                value: default.0,
                origin: Origin::Default { source: default.1 },
            }),
        }
    }

    fn optional(
        &self,
        v: &Option<Spanned<f64>>,
        field: &str,
        range: Range,
    ) -> Result<Option<Input>> {
        v.as_ref().map(|v| self.given(v, field, range)).transpose()
    }

    fn site(&self, s: &RawSite) -> Result<Site> {
        Ok(Site {
            pue: self.or_default(&s.pue, "site.pue", Range::Within(1.0, 5.0), DEFAULT_PUE)?,
            electricity_eur_per_kwh: self.given(
                &s.electricity_eur_per_kwh,
                "site.electricity_eur_per_kwh",
                Range::NonNegative,
            )?,
            grid_gco2e_per_kwh: self.or_default(
                &s.grid_gco2e_per_kwh,
                "site.grid_gco2e_per_kwh",
                Range::NonNegative,
                DEFAULT_GRID,
            )?,
            utilisation: self.given(&s.utilisation, "site.utilisation", Range::Share)?,
            idle_w: self.optional(&s.idle_w, "site.idle_w", Range::NonNegative)?,
        })
    }

    /// Given, or estimated from the component classes.
    fn embodied(&self, p: &RawPlatform, start: usize) -> Result<Input> {
        match (&p.embodied_kgco2e, &p.components) {
            (Some(v), None) => self.given(v, "platform.embodied_kgco2e", Range::NonNegative),
            (None, Some(c)) => {
                let mut total = 0.0;
                let mut sources = Vec::new();
                for (class, n) in c.get_ref() {
                    let Some((_, kg, source)) =
                        EMBODIED_DEFAULTS.iter().find(|(name, _, _)| name == class)
                    else {
                        return Err(self.error(
                            c.span().start,
                            "platform.components",
                            format!(
                                "unknown component class '{class}'; valid: {}",
                                EMBODIED_DEFAULTS.map(|d| d.0).join(", ")
                            ),
                        ));
                    };
                    if *n == 0 {
                        return Err(self.error(
                            c.span().start,
                            "platform.components",
                            format!("{class} = 0: a count must be at least 1"),
                        ));
                    }
                    total += kg * f64::from(*n);
                    sources.push(format!("{n} x {class} at {kg} kg ({source})"));
                }
                if sources.is_empty() {
                    return Err(self.error(
                        c.span().start,
                        "platform.components",
                        "no component given".into(),
                    ));
                }
                Ok(Input {
                    value: total,
                    origin: Origin::Estimated {
                        source: sources.join("; "),
                    },
                })
            }
            (Some(v), Some(_)) => Err(self.error(
                v.span().start,
                "platform.embodied_kgco2e",
                "give either embodied_kgco2e or components, not both".into(),
            )),
            (None, None) => Err(self.error(
                start,
                "platform.embodied_kgco2e",
                format!(
                    "missing: give embodied_kgco2e or components (classes: {})",
                    EMBODIED_DEFAULTS.map(|d| d.0).join(", ")
                ),
            )),
        }
    }

    /// Given, or read from the HEP Benchmark Suite report it names (a
    /// relative path is taken from the economics file's directory).
    fn hs23(&self, p: &RawPlatform) -> Result<Option<Input>> {
        let Some(file) = &p.hs23_report else {
            return self.optional(&p.hs23, "platform.hs23", Range::Positive);
        };
        if let Some(v) = &p.hs23 {
            return Err(self.error(
                v.span().start,
                "platform.hs23",
                "give either hs23 or hs23_report, not both".into(),
            ));
        }
        let base = Path::new(self.path).parent().unwrap_or(Path::new(""));
        let report = crate::report::hep_suite::read(&base.join(file.get_ref()))
            .map_err(|e| self.error(file.span().start, "platform.hs23_report", e.to_string()))?;
        Ok(Some(Input {
            value: report.score,
            origin: Origin::Report {
                source: report.source(),
            },
        }))
    }

    fn platform(&self, p: &RawPlatform) -> Result<PlatformEconomics> {
        let start = p.pattern.span().start;
        if p.pattern.get_ref().trim().is_empty() {
            return Err(self.error(start, "platform.match", "empty pattern".into()));
        }
        Ok(PlatformEconomics {
            pattern: p.pattern.get_ref().clone(),
            line: self.line(start),
            purchase_eur: self.given(
                &p.purchase_eur,
                "platform.purchase_eur",
                Range::NonNegative,
            )?,
            maintenance_eur_per_year: self.given(
                &p.maintenance_eur_per_year,
                "platform.maintenance_eur_per_year",
                Range::NonNegative,
            )?,
            lifetime_years: self.given(
                &p.lifetime_years,
                "platform.lifetime_years",
                Range::Within(0.1, 30.0),
            )?,
            rack_units: self.given(&p.rack_units, "platform.rack_units", Range::Positive)?,
            embodied_kgco2e: self.embodied(p, start)?,
            hs23: self.hs23(p)?,
            idle_w: self.optional(&p.idle_w, "platform.idle_w", Range::NonNegative)?,
        })
    }
}

impl Economics {
    /// Reads and checks an economics file.
    pub fn load(path: &Path) -> Result<Economics> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Economics::parse(&text, &path.display().to_string())
    }

    /// Parses and checks economics text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Economics> {
        let raw: RawFile = toml::from_str(text)
            .map_err(|e| crate::kernel::manifest::toml_error(text, path, &e))?;
        let p = Parser { text, path };
        Ok(Economics {
            path: path.to_string(),
            site: p.site(&raw.site)?,
            platforms: raw
                .platforms
                .iter()
                .map(|x| p.platform(x))
                .collect::<Result<_>>()?,
        })
    }

    /// The platform entry that names `subject`; `None` when none does, an
    /// error (exit 2) when more than one does.
    pub fn for_subject(&self, subject: &Subject) -> Result<Option<&PlatformEconomics>> {
        let found: Vec<&PlatformEconomics> = self
            .platforms
            .iter()
            .filter(|p| subject.matches(&p.pattern))
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            many => Err(Error::InvalidValue {
                what: format!("economics file {}", self.path),
                message: format!(
                    "{} is matched by more than one platform entry ({}): make the patterns distinct",
                    subject.label(),
                    many.iter()
                        .map(|p| format!("'{}' at line {}", p.pattern, p.line))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[site]
electricity_eur_per_kwh = 0.2
utilisation = 0.5

[[platform]]
match = "alpha"
purchase_eur = 10000
maintenance_eur_per_year = 500
lifetime_years = 4
rack_units = 1
components = { server-2socket = 1, gpu = 2 }
"#;

    #[test]
    fn defaults_and_estimates_say_where_they_come_from() {
        let e = Economics::parse(GOOD, "e.toml").unwrap();
        assert_eq!(e.site.pue.value, 1.58);
        assert!(matches!(e.site.pue.origin, Origin::Default { .. }));
        assert_eq!(e.site.grid_gco2e_per_kwh.value, 32.0);
        assert_eq!(e.site.utilisation.origin, Origin::Given { line: 4 });
        let p = &e.platforms[0];
        assert_eq!(p.line, 7);
        // 636 + 2 x 318
        assert_eq!(p.embodied_kgco2e.value, 1272.0);
        assert!(p.embodied_kgco2e.origin.text().starts_with("ESTIMATED: "));
    }

    #[test]
    fn bad_fields_name_the_line_and_field() {
        let bad = GOOD.replace("utilisation = 0.5", "utilisation = 1.5");
        let err = Economics::parse(&bad, "e.toml").unwrap_err().to_string();
        assert!(err.starts_with("e.toml:4:"), "{err}");
        assert!(
            err.contains("site.utilisation") && err.contains("1.5"),
            "{err}"
        );
        let bad = GOOD.replace("gpu = 2", "tpu = 2");
        let err = Economics::parse(&bad, "e.toml").unwrap_err().to_string();
        assert!(
            err.contains("platform.components") && err.contains("tpu"),
            "{err}"
        );
        let bad = GOOD.replace("rack_units = 1\n", "rack_units = 1\ncolour = 2\n");
        let err = Economics::parse(&bad, "e.toml").unwrap_err().to_string();
        assert!(
            err.starts_with("e.toml:12:") && err.contains("colour"),
            "{err}"
        );
    }
}
