//! Child processes that are killed whole: a timeout or an interrupt kills
//! the process group the child leads (started with `process_group(0)`), so
//! nothing it started outlives it. Shared by the runner's workers and the
//! IPMI meter's command: [`supervise`] runs one with a time limit, an
//! interrupt and bounded output; [`run_bounded`] is its short form for a
//! command such as IPMI's or `dmidecode`.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Why a command could not be supervised at all (a timeout or an
/// interrupt is how a supervised command ended, [`Ended`], not an error).
#[derive(Debug)]
pub enum SuperviseError {
    /// It could not start (`NotFound`: not installed).
    Spawn(std::io::Error),
    Wait(std::io::Error),
}

impl From<SuperviseError> for RunFailure {
    fn from(e: SuperviseError) -> Self {
        match e {
            SuperviseError::Spawn(e) => RunFailure::Spawn(e),
            SuperviseError::Wait(e) => RunFailure::Wait(e),
        }
    }
}

/// How a supervised command ended.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// It, or something it started holding its output open, overran the
    /// time limit; its process group was killed.
    TimedOut,
    /// The interrupt flag was raised; its process group was killed.
    Interrupted,
}

/// What a supervised command left: how it ended and its output (after a
/// kill, what it wrote before).
#[derive(Debug)]
pub struct Supervised {
    pub ended: Ended,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` in a process group of its own, fed `input` on stdin
/// (none: stdin is closed) and its output read up to `limit` bytes per
/// stream, until it exits, `timeout` passes or `interrupt` is raised. The
/// time limit covers the whole command, output included: a child that
/// exits while something it started holds its stdout open is as hung as
/// one that never exits. On timeout or interrupt the whole group is
/// killed, not just the direct child.
pub fn supervise(
    mut command: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    limit: u64,
    interrupt: Option<&AtomicBool>,
) -> Result<Supervised, SuperviseError> {
    use std::os::unix::process::CommandExt;
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(SuperviseError::Spawn)?;
    let deadline = Instant::now() + timeout;
    // Feed the input and drain both pipes on threads: a full pipe must
    // never block the child, and this side must keep watching the clock.
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let out = drain(child.stdout.take(), limit);
    let err = drain(child.stderr.take(), limit);
    let reap = |child: &mut Child| {
        kill_group(child);
        let _ = child.wait();
    };
    let raised = || interrupt.is_some_and(|i| i.load(Ordering::SeqCst));
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ended::Exited(status),
            Ok(None) if raised() => break Ended::Interrupted,
            Ok(None) if Instant::now() >= deadline => break Ended::TimedOut,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                reap(&mut child);
                return Err(SuperviseError::Wait(e));
            }
        }
    };
    // Killed, its pipes close at once: a second is plenty to collect what
    // it wrote. Exited, what it left holding them has the time remaining.
    let killed = !matches!(ended, Ended::Exited(_));
    if killed {
        reap(&mut child);
    }
    let wait = || {
        if killed {
            Duration::from_secs(1)
        } else {
            deadline.saturating_duration_since(Instant::now())
        }
    };
    match (out.recv_timeout(wait()), err.recv_timeout(wait())) {
        (Ok(stdout), Ok(stderr)) => Ok(Supervised {
            ended,
            stdout,
            stderr,
        }),
        _ => {
            reap(&mut child);
            Ok(Supervised {
                ended: Ended::TimedOut,
                stdout: String::new(),
                stderr: String::new(),
            })
        }
    }
}

/// Runs `program args` as [`supervise`] does, with stdin closed and no
/// interrupt: a short command (IPMI, `dmidecode`) with a time limit and
/// bounded output.
pub fn run_bounded(
    program: &str,
    args: &[String],
    timeout: Duration,
    limit: u64,
) -> Result<Finished, RunFailure> {
    let mut command = Command::new(program);
    command.args(args);
    let done = supervise(command, None, timeout, limit, None)?;
    match done.ended {
        Ended::Exited(status) => Ok(Finished {
            status,
            stdout: done.stdout,
            stderr: done.stderr,
        }),
        Ended::TimedOut | Ended::Interrupted => Err(RunFailure::TimedOut),
    }
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
