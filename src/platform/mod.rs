//! The node fingerprint: what the results were measured on.
//!
//! Collected once per run, before the first measurement, and stored with it.
//! `hash` identifies the hardware and software platform (CPU model, core
//! counts, memory, OS and kernel), not the host name, so that identical nodes
//! of a farm share it; `hostname` tells nodes apart.

pub mod device;
pub mod preflight;

pub use device::DeviceType;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// What a node is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub hostname: String,
    pub os: String,
    pub os_version: String,
    pub kernel_version: String,
    pub arch: String,
    pub cpu: CpuSummary,
    pub memory_bytes: u64,
    /// SHA-256 (hex, first 16 digits) of the fields above but the host name.
    pub hash: String,
    /// The name the admin gave the platform (`hetbench run --label`); not
    /// part of the hash. Readers show [`Fingerprint::label`] or the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The node's state at the start of the run ([`preflight`]): load,
    /// governor, turbo, SMT, huge pages, NUMA, DIMMs, GPU clocks, and the
    /// throttling seen by its end. Not part of the hash; absent in records
    /// older than it and in workers' copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<preflight::Preflight>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuSummary {
    pub brand: String,
    pub vendor: String,
    pub physical_cores: Option<usize>,
    pub logical_cpus: usize,
    /// Nominal frequency reported by the OS, MHz (0 when unknown).
    pub frequency_mhz: u64,
    /// SIMD features the CPU backend can use.
    pub simd: Vec<String>,
}

fn unknown<E>(r: Result<String, E>) -> String {
    r.unwrap_or_else(|_| "unknown".to_string())
}

fn simd_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut v = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            v.push("avx2".to_string());
        }
        if std::is_x86_feature_detected!("fma") {
            v.push("fma".to_string());
        }
        if std::is_x86_feature_detected!("avx512f") {
            v.push("avx512f".to_string());
        }
    }
    #[cfg(target_arch = "aarch64")]
    v.push("neon".to_string());
    v
}

/// The CPU part of the fingerprint.
pub fn cpu_summary() -> CpuSummary {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let sys =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::everything()));
    let (brand, vendor, freq) = match sys.as_ref().ok().and_then(|s| s.cpus().first()) {
        Some(cpu) => (
            cpu.brand().trim().to_string(),
            cpu.vendor_id().to_string(),
            cpu.frequency(),
        ),
        None => ("unknown CPU".to_string(), "unknown".to_string(), 0),
    };
    CpuSummary {
        brand: if brand.is_empty() {
            "unknown CPU".into()
        } else {
            brand
        },
        vendor,
        physical_cores: System::physical_core_count().ok(),
        logical_cpus: logical,
        frequency_mhz: freq,
        simd: simd_features(),
    }
}

/// Collects the fingerprint of this node.
pub fn fingerprint() -> Fingerprint {
    let memory_bytes = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::everything()),
    )
    .map(|s| s.total_memory())
    .unwrap_or(0);
    let mut fp = Fingerprint {
        hostname: unknown(System::host_name()),
        os: unknown(System::name()),
        os_version: unknown(System::os_version()),
        kernel_version: unknown(System::kernel_version()),
        arch: System::cpu_arch(),
        cpu: cpu_summary(),
        memory_bytes,
        hash: String::new(),
        label: None,
        preflight: None,
    };
    fp.hash = fp.compute_hash();
    fp
}

impl Fingerprint {
    /// The platform's name for tables: its label, else its host name.
    pub fn display_label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.hostname)
    }

    /// The platform hash: every field but the host name and the hash.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.os,
            &self.os_version,
            &self.kernel_version,
            &self.arch,
            &self.cpu.brand,
            &self.cpu.vendor,
            &format!("{:?}", self.cpu.physical_cores),
            &self.cpu.logical_cpus.to_string(),
            &self.memory_bytes.to_string(),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())[..16].to_string()
    }
}

/// Memory the OS says is available now, in bytes (`None` when unknown).
pub fn available_memory() -> Option<u64> {
    System::new_with_specifics(RefreshKind::nothing().with_memory(MemoryRefreshKind::everything()))
        .ok()
        .map(|s| s.available_memory())
        .filter(|&m| m > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_filled_and_hash_ignores_hostname() {
        let fp = fingerprint();
        assert!(fp.cpu.logical_cpus >= 1);
        assert!(fp.memory_bytes > 0);
        assert_eq!(fp.hash.len(), 16);
        let mut other = fp.clone();
        other.hostname = "elsewhere".into();
        assert_eq!(other.compute_hash(), fp.hash);
        other.cpu.logical_cpus += 1;
        assert_ne!(other.compute_hash(), fp.hash);
    }
}
