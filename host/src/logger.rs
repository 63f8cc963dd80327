//! A minimal `log` backend: one line per record on standard error.
//!
//! Lines read `xenstored-rs: LEVEL target: message`. The daemon logs little
//! (start-up, shutdown, connection errors), so a lock-free unbuffered write
//! per record is enough and keeps us free of a logging framework.

use std::io::Write;

/// Writes every enabled record to standard error.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            // A failed write to stderr has nowhere to be reported; drop it.
            let _ = writeln!(
                std::io::stderr().lock(),
                "xenstored-rs: {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// The logger instance handed to the `log` facade.
static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger at `level`; a second call only changes the level.
pub fn init(level: log::LevelFilter) {
    // `set_logger` fails only if a logger is already installed, which is the
    // case on a repeated call: keeping the first one is what we want.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
