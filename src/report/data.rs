//! What the decision-maker reports compare: a [`Subject`] is one compute
//! device of one node (host name, platform hash, backend, device id), and
//! each subject keeps its newest `ok` result per kernel, size and precision.
//!
//! Only results that passed verification carry figures here: a
//! `verify_failed` result is never ranked, plotted or scored. When a node ran
//! a kernel more than once, the newest result speaks for it, so a rerun on a
//! quieter node replaces a noisy one rather than being averaged with it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::power::{EnergyReading, Method};
use crate::report::stats::Estimate;
use crate::store::{ResultRecord, Status};

/// One device of one node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Subject {
    pub hostname: String,
    pub platform_hash: String,
    pub backend: String,
    pub device: String,
    pub device_name: String,
    pub device_type: String,
    /// Its figures are modeled, not measured (FPGA emulation).
    pub modeled: bool,
    /// The platform's label (`run --label`), if it was given one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_label: Option<String>,
    /// The first 8 digits of the platform hash, shown after the name where
    /// two platforms of a dataset would otherwise look alike.
    #[serde(skip)]
    pub short_hash: Option<String>,
}

impl Subject {
    pub fn of(r: &ResultRecord) -> Subject {
        Subject {
            hostname: r.hostname.clone(),
            platform_hash: r.platform_hash.clone(),
            backend: r.backend.clone(),
            device: r.device.clone(),
            device_name: r.device_name.clone(),
            device_type: r.device_type.clone(),
            modeled: r.is_modeled(),
            platform_label: r.platform_label.clone(),
            short_hash: None,
        }
    }

    /// The platform's name: its label, else its host name, with the short
    /// hash where that is needed to tell it from another.
    pub fn platform_name(&self) -> String {
        let name = self.platform_label.as_deref().unwrap_or(&self.hostname);
        match &self.short_hash {
            Some(h) => format!("{name} [{h}]"),
            None => name.to_string(),
        }
    }

    /// `host/backend:device`, the exact name `--baseline` accepts.
    pub fn spec(&self) -> String {
        let platform = match &self.short_hash {
            Some(h) => h.clone(),
            None => self
                .platform_label
                .clone()
                .unwrap_or_else(|| self.hostname.clone()),
        };
        format!("{platform}/{}:{}", self.backend, self.device)
    }

    /// `platform: device name (backend:device)`, for tables and legends;
    /// ` [MODELED]` after a modeled device.
    pub fn label(&self) -> String {
        format!(
            "{}: {} ({}:{}){}",
            self.platform_name(),
            self.device_name,
            self.backend,
            self.device,
            if self.modeled { " [MODELED]" } else { "" }
        )
    }

    /// Whether `name` names this subject: its label, host name, platform
    /// hash (or a prefix of at least 6 digits), device id, device name,
    /// `backend:device`, or any of the platform names followed by
    /// `/backend:device`.
    pub fn matches(&self, name: &str) -> bool {
        let platform = |p: &str| {
            p == self.hostname
                || self.platform_label.as_deref() == Some(p)
                || (p.len() >= 6 && self.platform_hash.starts_with(p))
        };
        let device = |d: &str| d == format!("{}:{}", self.backend, self.device);
        match name.rsplit_once('/') {
            Some((p, d)) if device(d) => platform(p),
            _ => platform(name) || name == self.device || name == self.device_name || device(name),
        }
    }
}

/// (kernel, size, precision).
pub type Key = (String, String, String);

pub fn key_of(r: &ResultRecord) -> Key {
    (r.kernel.clone(), r.size.clone(), r.precision.clone())
}

/// The newest `ok` result with a throughput per subject and key.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub subjects: BTreeMap<Subject, BTreeMap<Key, ResultRecord>>,
}

impl Dataset {
    /// Builds the dataset; `results` come oldest first (as the database
    /// returns them), and a result recorded later replaces an earlier one.
    pub fn new(results: &[ResultRecord]) -> Dataset {
        let mut subjects: BTreeMap<Subject, BTreeMap<Key, ResultRecord>> = BTreeMap::new();
        for r in results {
            if r.status != Status::Ok || r.throughput.is_none() {
                continue;
            }
            let slot = subjects.entry(Subject::of(r)).or_default();
            match slot.get(&key_of(r)) {
                Some(old) if old.recorded_at > r.recorded_at => {}
                _ => {
                    slot.insert(key_of(r), r.clone());
                }
            }
        }
        Dataset {
            subjects: disambiguate(subjects),
        }
    }

    /// Like [`Dataset::new`], but an error (exit 2) when nothing is left.
    pub fn require(results: &[ResultRecord], source: &str) -> Result<Dataset> {
        let d = Dataset::new(results);
        if d.subjects.is_empty() {
            return Err(Error::NoResults(format!(
                "no verified (ok) results in {source}{}; run `hetbench run` or `hetbench import` run files first",
                if results.is_empty() {
                    ""
                } else {
                    " match (the others failed, were skipped or are filtered out)"
                }
            )));
        }
        Ok(d)
    }

    /// Every result of the dataset.
    pub fn results(&self) -> impl Iterator<Item = (&Subject, &ResultRecord)> {
        self.subjects
            .iter()
            .flat_map(|(s, m)| m.values().map(move |r| (s, r)))
    }

    /// Every key, in kernel order of first appearance then size order.
    pub fn keys(&self) -> Vec<Key> {
        let set: BTreeSet<Key> = self.results().map(|(_, r)| key_of(r)).collect();
        let mut keys: Vec<Key> = set.into_iter().collect();
        keys.sort_by_key(|k| (k.0.clone(), size_rank(&k.1), k.2.clone()));
        keys
    }

    /// The suite versions present.
    pub fn suite_versions(&self) -> BTreeSet<String> {
        self.results()
            .map(|(_, r)| r.suite_version.clone())
            .collect()
    }

    /// The run ids present.
    pub fn run_ids(&self) -> BTreeSet<String> {
        self.results().map(|(_, r)| r.run_id.clone()).collect()
    }
}

/// Gives the subjects of platforms that share a name (label or host) with
/// another platform their short hash.
fn disambiguate<V>(subjects: BTreeMap<Subject, V>) -> BTreeMap<Subject, V> {
    let mut hashes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in subjects.keys() {
        hashes
            .entry(s.platform_name())
            .or_default()
            .insert(s.platform_hash.clone());
    }
    subjects
        .into_iter()
        .map(|(mut s, v)| {
            if hashes[&s.platform_name()].len() > 1 {
                s.short_hash = Some(s.platform_hash.chars().take(8).collect());
            }
            (s, v)
        })
        .collect()
}

/// small < medium < large < anything else.
pub fn size_rank(size: &str) -> (usize, String) {
    let rank = crate::kernel::manifest::SIZE_NAMES
        .iter()
        .position(|s| *s == size)
        .unwrap_or(usize::MAX);
    (rank, size.to_string())
}

/// A result's throughput with the 95% interval of its median time (see
/// [`ResultRecord::throughput_interval`]), or without one.
pub fn throughput_estimate(r: &ResultRecord) -> Option<Estimate> {
    let t = r.throughput?;
    match r.throughput_interval() {
        Some(ci) => Estimate::with_interval(t, ci.low, ci.high),
        None => Estimate::bare(t),
    }
}

/// The energy reading a figure may use: the result's primary reading, if it
/// has a perf/W and is measured, or estimated (modeled) when
/// `include_estimated` (`include_modeled`) allows it.
pub fn usable_energy(
    r: &ResultRecord,
    include_estimated: bool,
    include_modeled: bool,
) -> Option<&EnergyReading> {
    r.primary_energy()
        .filter(|e| e.avg_w > 0.0 && e.avg_w.is_finite())
        .filter(|e| match e.method {
            Method::Counter | Method::Sampled => true,
            Method::Estimated => include_estimated,
            Method::Modeled => include_modeled,
        })
}

/// The results a ranking may use: all of them with `include_modeled`,
/// else only measured ones (see [`ResultRecord::is_modeled`]); and how
/// many modeled results were left out. Modeled timings and energy never
/// meet measured ones in a score, comparison or plot unless asked.
pub fn rankable(results: &[ResultRecord], include_modeled: bool) -> (Vec<ResultRecord>, usize) {
    let kept: Vec<ResultRecord> = results
        .iter()
        .filter(|r| include_modeled || !r.is_modeled())
        .cloned()
        .collect();
    let left_out = results.len() - kept.len();
    (kept, left_out)
}

/// The hint that goes with an empty selection when modeled results were
/// left out.
pub fn modeled_hint(left_out: usize) -> String {
    if left_out > 0 {
        format!(
            "; {left_out} modeled result(s) (FPGA emulation) left out: --include-modeled ranks them, labelled"
        )
    } else {
        String::new()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            html_escape("<script>alert('x&y')</script>\""),
            "&lt;script&gt;alert(&#39;x&amp;y&#39;)&lt;/script&gt;&quot;"
        );
    }

    #[test]
    fn sizes_sort_by_rank() {
        let mut v = vec!["large", "small", "huge", "medium"];
        v.sort_by_key(|s| size_rank(s));
        assert_eq!(v, ["small", "medium", "large", "huge"]);
    }
}
