//! Entry point: parse the command line and hand over to the library.

use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: uploads and imports allocate and free
/// millions of small strings, many of them freed on another thread than the one that
/// made them (the parser hands rows to the writer), and glibc's malloc spent over a
/// third of an import's service time on that (see BENCHMARKS.md, session 5). Version 2
/// (the crate's `v2` feature): version 3 kept freed pages resident across the blocking
/// threads and took the embedded SQLite pipeline's peak RSS past 500 MB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    healthcard::cli::main()
}
