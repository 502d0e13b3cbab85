//! Process lifetimes of a run: workers that die with the run, and the lock
//! that keeps two processes from measuring one run at once.
//!
//! A worker is started in a process group of its own (so that a timeout
//! kills whatever it started too: `crate::process::supervise`) with
//! `PR_SET_PDEATHSIG`: when the run is
//! killed outright (`kill -9`, the OOM killer, Slurm's escalation), the
//! kernel kills the worker, which would otherwise go on measuring, or
//! hanging, and disturb the resume started next.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// Makes `command`'s process die with this process (its group of its own
/// is `crate::process::supervise`'s). `PR_SET_PDEATHSIG` fires when the
/// thread that started the child ends: workers are started from the run's
/// own thread, which lives as long as the run.
pub fn bind_to_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls are
        // made (prctl, getppid, _exit), and no memory is allocated.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent died before the signal was armed.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

/// An exclusive lock on one run, held while it is measured; released when
/// dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    pub path: PathBuf,
}

impl RunLock {
    /// Takes the lock of `run_id` in `dir`, or says who holds it.
    pub fn acquire(dir: &Path, run_id: &str, hostname: &str) -> Result<RunLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!("{run_id}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        // SAFETY: flock(2) on a descriptor this function owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !taken {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = holder.trim();
            return Err(Error::InvalidValue {
                what: "--resume".into(),
                message: format!(
                    "run {run_id} is being measured by another hetbench ({}): wait for it to end or stop it first (lock '{}')",
                    if holder.is_empty() {
                        "holder unknown"
                    } else {
                        holder
                    },
                    path.display()
                ),
            });
        }
        let note = format!("pid {} on {hostname}\n", std::process::id());
        file.set_len(0)
            .and_then(|_| file.write_all(note.as_bytes()))
            .map_err(|e| Error::io(&path, e))?;
        Ok(RunLock { _file: file, path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_one_run_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunLock::acquire(dir.path(), "r1", "node7").unwrap();
        let err = RunLock::acquire(dir.path(), "r1", "node8")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {} on node7", std::process::id())),
            "{err}"
        );
        assert!(RunLock::acquire(dir.path(), "r2", "node7").is_ok());
        drop(first);
        assert!(RunLock::acquire(dir.path(), "r1", "node8").is_ok());
    }
}
