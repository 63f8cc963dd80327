//! The `log` facade on the Xen console (hermit's `logging.rs` pattern).
//!
//! Each record becomes one line, `[<ms>] <LEVEL> <message>`, written in one
//! piece ([`console::write_line`]) so lines stay whole and greppable and
//! cost one trap to Xen each. The level comes from `--log-level`. Lines a
//! guest can trigger at will are rate-limited where they are logged
//! (`store::ratelimit`).

use core::sync::atomic::{AtomicU64, Ordering};

use log::{LevelFilter, Log, Metadata, Record};

use crate::console;

/// The console logger.
struct ConsoleLogger;

/// The current time in ms since boot, stamped on each line.
static NOW_MS: AtomicU64 = AtomicU64::new(0);

static LOGGER: ConsoleLogger = ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        console::write_line(format_args!(
            "[{}] {} {}",
            NOW_MS.load(Ordering::Relaxed),
            record.level(),
            record.args()
        ));
    }

    fn flush(&self) {}
}

/// Installs the logger at `level`.
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Records the current time for the line stamps.
pub fn set_now_ms(ms: u64) {
    NOW_MS.store(ms, Ordering::Relaxed);
}
