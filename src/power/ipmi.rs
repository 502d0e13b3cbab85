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

/// Most output kept of one reading (a real one is a few hundred bytes).
const OUTPUT_LIMIT: u64 = 64 << 10;

/// Runs `command` in a process group of its own. The time limit covers
/// the whole reading, output included: a child that exits while something
/// it started holds its stdout open is as hung as one that never exits.
/// On timeout the whole group is killed, not just the direct child.
fn run_with_timeout(command: &[String]) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let (program, args) = command.split_first().ok_or("empty IPMI command")?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run '{program}': {e}"))?;
    let deadline = Instant::now() + READ_TIMEOUT;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let hung = || {
        format!(
            "'{}' did not answer within {:?} (its process group was killed)",
            command.join(" "),
            READ_TIMEOUT
        )
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(hung());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&mut child);
                return Err(e.to_string());
            }
        }
    };
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let (Ok(out), Ok(err)) = (out.recv_timeout(remaining()), err.recv_timeout(remaining())) else {
        kill_group(&mut child);
        return Err(hung());
    };
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "'{}' failed ({status}): {}",
            command.join(" "),
            err.trim()
        ))
    }
}

/// Reads a pipe to its end (at most [`OUTPUT_LIMIT`]) on a thread; the
/// text arrives on the channel.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(OUTPUT_LIMIT).read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Kills the process group `child` leads, then reaps the child.
fn kill_group(child: &mut std::process::Child) {
    crate::process::kill_group(child);
    let _ = child.wait();
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
