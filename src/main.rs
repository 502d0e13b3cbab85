//! The `hetbench` binary: parse the command line, call the library, print
//! the whole error chain and pick the exit code.

mod cli;

use std::process::ExitCode;

/// Points XDG_RUNTIME_DIR at a private directory when it is unset or not
/// a directory of mode 0700: Mesa (lavapipe) prints "error:
/// XDG_RUNTIME_DIR is invalid" otherwise, on every run under batch systems
/// and sudo. Called first, before any thread exists.
fn private_runtime_dir() {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let valid = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700)
    };
    if std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| valid(d.as_ref())) {
        return;
    }
    // SAFETY: getuid(2) has no preconditions and touches no memory.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("hetbench-runtime-{uid}"));
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    if valid(&dir) {
        // SAFETY: no other thread exists yet (the first call of main).
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> ExitCode {
    private_runtime_dir();
    match cli::main() {
        Ok(code) => code,
        Err(err) => {
            // Messages may quote imported names: their control characters
            // are escaped, never sent to the terminal raw.
            let safe = |text: String| {
                hetbench::report::table::escape_controls(&text, &['\n', '\t']).into_owned()
            };
            eprintln!("error: {}", safe(err.to_string()));
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {}", safe(cause.to_string()));
            }
            let code = err
                .chain()
                .find_map(|e| e.downcast_ref::<hetbench::error::Error>())
                .map(|e| e.exit_code())
                .unwrap_or(hetbench::error::EXIT_FAILURE);
            ExitCode::from(code)
        }
    }
}
