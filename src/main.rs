//! The `hetbench` binary: parse the command line, call the library, print
//! the whole error chain and pick the exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
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
