//! `xenstored-rs`: the xenstore engine served on a Unix socket on Linux.
//!
//! Every socket client is the privileged domain, as with C xenstored. With
//! `--simring DIR` the daemon also serves simulated guest domains over the
//! simring convention (shared ring files and datagram event channels), so
//! guest-side behaviour can be tested without Xen. `--help` lists the
//! options; SIGTERM or SIGINT stops the daemon cleanly (socket removed,
//! exit status 0).
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::cast_possible_truncation,
        clippy::arithmetic_side_effects
    )
)]

mod clients;
mod config;
mod daemon;
#[allow(unsafe_code)]
mod fds;
mod heap;
mod logger;
mod options;
mod platform;
mod simring;

use std::process::ExitCode;

use options::{Environment, Options, USAGE};

fn main() -> ExitCode {
    let opts = match Options::parse(std::env::args_os().skip(1), &Environment::from_process()) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("xenstored-rs: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.help {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    logger::init(opts.log_level);
    for warning in &opts.warnings {
        log::warn!("{warning}");
    }
    let config = match config::engine_config(&opts) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("xenstored-rs: {e}");
            return ExitCode::from(2);
        }
    };
    let mut daemon = match daemon::Daemon::new(&opts, config) {
        Ok(daemon) => daemon,
        Err(e) => {
            log::error!("start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = daemon.run();
    daemon.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("poll loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}
