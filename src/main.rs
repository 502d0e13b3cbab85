//! The `hetbench` binary: parse the command line, call the library, print
//! the whole error chain and pick the exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
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
