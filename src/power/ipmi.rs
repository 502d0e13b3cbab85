//! Node power through IPMI DCMI, by default `ipmitool dcmi power reading`
//! (configurable: `[power] ipmi_command`), sampled. BMCs refresh this figure
//! about once a second, so it suits windows of tens of seconds; shorter ones
//! are flagged. Each read runs the command with a time limit, so a hung BMC
//! cannot hang the benchmark.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

fn run_with_timeout(command: &[String]) -> Result<String, String> {
    let (program, args) = command.split_first().ok_or("empty IPMI command")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run '{program}': {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = String::new();
                let mut err = String::new();
                if let Some(mut s) = child.stdout.take() {
                    let _ = s.read_to_string(&mut out);
                }
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!(
                        "'{}' failed ({status}): {}",
                        command.join(" "),
                        err.trim()
                    ))
                };
            }
            Ok(None) if start.elapsed() > READ_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "'{}' did not answer within {:?}",
                    command.join(" "),
                    READ_TIMEOUT
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(e.to_string()),
        }
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

    #[test]
    fn parses_ipmitool_output() {
        let out = "\n    Instantaneous power reading:                   312 Watts\n    Minimum during sampling period:                 90 Watts\n";
        assert_eq!(parse_reading(out).unwrap(), 312.0);
        assert!(parse_reading("garbage").is_err());
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
