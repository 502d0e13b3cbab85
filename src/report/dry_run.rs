//! The plan of `run --dry-run` as text: one row per job with its launch
//! geometry, the memory it needs and whether it fits its device, then the
//! devices and a count of the jobs that would be refused.

use crate::plan::{Admission, gib};
use crate::report::table::render_text;
use crate::runner::DryRunJob;

/// Column headings of the dry-run table.
pub const HEADINGS: [&str; 9] = [
    "kernel",
    "size",
    "precision",
    "backend",
    "device",
    "dispatches (groups of group size)",
    "device memory",
    "host memory",
    "fits",
];

/// `bytes` in the largest binary unit that keeps a number of at least 1.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Whether the job fits, or the limit it exceeds and by what.
fn fits(job: &DryRunJob) -> String {
    match &job.check.admission {
        Admission::Fits => "yes".into(),
        Admission::OverDeviceLimit(e) => {
            format!(
                "no: {} = {}, over {} = {}",
                e.what, e.value, e.limit.name, e.limit.value
            )
        }
        Admission::HostMemoryShort => format!(
            "no: host memory short ({} available)",
            gib(job.check.host_available.unwrap_or(0))
        ),
    }
}

fn row(job: &DryRunJob) -> Vec<String> {
    let (geometry, device_memory) = match &job.check.footprint {
        Some(f) => (f.geometry(), format_bytes(f.total_bytes())),
        None => ("- (no GPU launch)".into(), "-".into()),
    };
    vec![
        job.kernel.clone(),
        job.size.clone(),
        job.precision.as_str().into(),
        job.backend.as_str().into(),
        job.device.id.clone(),
        geometry,
        device_memory,
        format_bytes(job.check.host_bytes),
        fits(job),
    ]
}

/// The dry-run plan as text.
pub fn dry_run_text(jobs: &[DryRunJob]) -> String {
    let rows: Vec<Vec<String>> = jobs.iter().map(row).collect();
    let mut out = render_text(&HEADINGS, &rows);
    let mut devices: Vec<String> = Vec::new();
    for j in jobs {
        let line = format!(
            "  {}  {} [{}] ({})",
            j.device.id,
            j.device.name,
            j.device.device_type.as_str(),
            j.device.api
        );
        if !devices.contains(&line) {
            devices.push(line);
        }
    }
    if !devices.is_empty() {
        out.push_str("\ndevices\n");
        for d in &devices {
            out.push_str(d);
            out.push('\n');
        }
    }
    let over = jobs
        .iter()
        .filter(|j| matches!(j.check.admission, Admission::OverDeviceLimit(_)))
        .count();
    let short = jobs
        .iter()
        .filter(|j| j.check.admission == Admission::HostMemoryShort)
        .count();
    out.push_str(&format!(
        "\n{} job(s): {} fit, {over} over a device limit, {short} short of host memory; nothing was run or stored\n",
        jobs.len(),
        jobs.len() - over - short
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_in_binary_units() {
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(335_544_320), "320.0 MiB");
        assert_eq!(format_bytes(3 << 30), "3.0 GiB");
    }
}
