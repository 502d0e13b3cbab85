//! Child processes that are killed whole: a timeout or an interrupt kills
//! the process group the child leads (started with `process_group(0)`), so
//! nothing it started outlives it. Shared by the runner's workers and the
//! IPMI meter's command.

use std::process::Child;

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
