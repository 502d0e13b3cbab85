//! Node power through IPMI DCMI, by default `ipmitool dcmi power reading`
//! (configurable: `[power] ipmi_command`), sampled. BMCs refresh this figure
//! about once a second, so it suits windows of tens of seconds; shorter ones
//! are flagged. Each read runs the command with a time limit, so a hung BMC
//! cannot hang the benchmark.

use std::sync::Arc;
use std::time::Duration;

use super::{EnergyMeter, MeterInfo, Method, PowerConfig, PowerSource, SampledMeter, Scope};

/// Longest a single reading may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

struct Dcmi {
    command: Vec<String>,
}

/// The watts of `Instantaneous power reading:   250 Watts`.
pub fn parse_reading(text: &str) -> Result<f64, String> {
    text.lines()
        .find(|l| l.trim_start().starts_with("Instantaneous power reading"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| "no 'Instantaneous power reading' line in the command's output".to_string())
}

/// Most output kept of one reading (a real one is a few hundred bytes).
const OUTPUT_LIMIT: u64 = 64 << 10;

/// Runs `command` with [`READ_TIMEOUT`] over the whole reading (see
/// [`crate::process::run_bounded`]).
fn run_with_timeout(command: &[String]) -> Result<String, String> {
    use crate::process::{RunFailure, run_bounded};
    let (program, args) = command.split_first().ok_or("empty IPMI command")?;
    match run_bounded(program, args, READ_TIMEOUT, OUTPUT_LIMIT) {
        Ok(f) if f.status.success() => Ok(f.stdout),
        Ok(f) => Err(format!(
            "'{}' failed ({}): {}",
            command.join(" "),
            f.status,
            f.stderr.trim()
        )),
        Err(RunFailure::Spawn(e)) => Err(format!("cannot run '{program}': {e}")),
        Err(RunFailure::TimedOut) => Err(format!(
            "'{}' did not answer within {:?} (its process group was killed)",
            command.join(" "),
            READ_TIMEOUT
        )),
        Err(RunFailure::Wait(e)) => Err(e.to_string()),
    }
}

impl PowerSource for Dcmi {
    fn read_watts(&self) -> Result<f64, String> {
        parse_reading(&run_with_timeout(&self.command)?)
    }
}

pub fn discover(cfg: &PowerConfig) -> Result<Vec<Box<dyn EnergyMeter>>, String> {
    if cfg.ipmi_command.is_empty() {
        return Err("disabled (empty ipmi_command)".into());
    }
    let source = Dcmi {
        command: cfg.ipmi_command.clone(),
    };
    source.read_watts()?;
    Ok(vec![Box::new(SampledMeter {
        info: MeterInfo {
            name: "ipmi:dcmi".into(),
            scope: Scope::Node,
            method: Method::Sampled,
            update_interval_s: 1.0f64.max(cfg.interval().as_secs_f64()),
            covers: "the whole node (BMC)".into(),
        },
        source: Arc::new(source),
        // The BMC refreshes about once a second: sampling faster only
        // repeats the figure and loads the BMC.
        interval: cfg.interval().max(Duration::from_secs(1)),
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn parses_ipmitool_output() {
        let out = "\n    Instantaneous power reading:                   312 Watts\n    Minimum during sampling period:                 90 Watts\n";
        assert_eq!(parse_reading(out).unwrap(), 312.0);
        assert!(parse_reading("garbage").is_err());
    }

    #[test]
    fn a_child_holding_its_output_open_is_bounded_and_its_group_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        // Answers at once, but leaves a grandchild holding stdout open.
        let script = format!(
            "echo 'Instantaneous power reading: 100 Watts'; sleep 30 & echo $! > {}",
            pid_file.display()
        );
        let start = Instant::now();
        let err = run_with_timeout(&["sh".into(), "-c".into(), script]).unwrap_err();
        assert!(start.elapsed() < READ_TIMEOUT + Duration::from_secs(2));
        assert!(err.contains("did not answer within 5s"), "{err}");
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "the grandchild {pid} outlived the timeout");
    }

    #[test]
    fn a_configured_command_is_sampled_and_a_missing_one_says_why() {
        let cfg = PowerConfig {
            ipmi_command: vec![
                "echo".into(),
                "Instantaneous power reading: 200 Watts".into(),
            ],
            ..Default::default()
        };
        let meters = discover(&cfg).unwrap();
        assert_eq!(meters[0].info().scope, Scope::Node);
        let cfg = PowerConfig {
            ipmi_command: vec!["/nonexistent/ipmitool".into()],
            ..Default::default()
        };
        assert!(
            discover(&cfg)
                .err()
                .unwrap()
                .contains("cannot run '/nonexistent/ipmitool'")
        );
    }
}
