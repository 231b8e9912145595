//! The `pixveil` command-line tool.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod progress;

use std::{io::Write, process::ExitCode};

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // `serve` shuts down on these signals itself (tokio), finishing what it writes.
    if !matches!(cli.command, cli::Command::Serve(_)) {
        remove_temporary_files_on_signals();
    }
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: cannot configure {n} threads: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = cmd::run(&cli);
    if SIGNALLED.load(std::sync::atomic::Ordering::SeqCst) {
        // The work may have failed because the handler removed its temporary files: let the
        // handler end the process by its signal rather than exit with that error.
        loop {
            std::thread::park();
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set by the signal handler before it removes temporary files.
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// On SIGINT, SIGTERM or SIGHUP: remove the temporary files of writes in progress
/// ([`pixveil_core::fsio::remove_pending`]: a killed process runs no destructor), then die of
/// the signal as without the handler.
#[cfg(unix)]
fn remove_temporary_files_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return; // Without the handler the signals keep their default action.
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
            pixveil_core::fsio::remove_pending();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}

#[cfg(not(unix))]
fn remove_temporary_files_on_signals() {}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
