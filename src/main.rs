//! The `trailwatch` binary: parses the command line, runs the command, and turns the outcome into
//! an exit status (0 all input read, 1 some input unreadable, 2 usage or configuration error).

use std::process::ExitCode;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    trailwatch::cli::main()
}
