//! Child processes that are killed whole: a timeout or an interrupt kills
//! the process group the child leads (started with `process_group(0)`), so
//! nothing it started outlives it. Shared by the runner's workers and the
//! IPMI meter's command; [`run_bounded`] runs a short command (IPMI,
//! `dmidecode`) with a time limit and bounded output.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Kills the process group `child` leads, and the child itself; the caller
/// reaps it (`wait`).
pub fn kill_group(child: &mut Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals that process group;
        // it touches no memory of this process.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// What a bounded command left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Why a bounded command left nothing.
#[derive(Debug)]
pub enum RunFailure {
    /// It could not start (`NotFound`: not installed).
    Spawn(std::io::Error),
    /// It, or something it started holding its output open, overran the
    /// limit; its process group was killed.
    TimedOut,
    Wait(std::io::Error),
}

/// Runs `program args` in a process group of its own, its output read up
/// to `limit` bytes per stream. The time limit covers the whole command,
/// output included: a child that exits while something it started holds
/// its stdout open is as hung as one that never exits. On timeout the
/// whole group is killed, not just the direct child.
pub fn run_bounded(
    program: &str,
    args: &[String],
    timeout: Duration,
    limit: u64,
) -> Result<Finished, RunFailure> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunFailure::Spawn)?;
    let deadline = Instant::now() + timeout;
    let out = drain(child.stdout.take(), limit);
    let err = drain(child.stderr.take(), limit);
    let reap = |child: &mut Child| {
        kill_group(child);
        let _ = child.wait();
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                reap(&mut child);
                return Err(RunFailure::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                reap(&mut child);
                return Err(RunFailure::Wait(e));
            }
        }
    };
    let remaining = || deadline.saturating_duration_since(Instant::now());
    let (Ok(stdout), Ok(stderr)) = (out.recv_timeout(remaining()), err.recv_timeout(remaining()))
    else {
        reap(&mut child);
        return Err(RunFailure::TimedOut);
    };
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

/// Reads a pipe to its end (at most `limit` bytes) on a thread; the text
/// arrives on the channel.
fn drain<R: Read + Send + 'static>(
    pipe: Option<R>,
    limit: u64,
) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(p) = pipe {
            let _ = p.take(limit).read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}
