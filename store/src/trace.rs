//! Request tracing, switched by `XS_CONTROL log` (C xenstored's trace
//! switches, `core.c` `trace_switches[]`).
//!
//! `log on` turns on the default classes, `log off` turns everything off,
//! `log +<switch>` / `log -<switch>` change one class. The switch names are
//! C's (`obj io wrl acc tdb`); here `io` traces every request and reply
//! (connection, domain, type, ids, length) through the `log` facade, the
//! others are accepted and kept for compatibility but trace nothing yet.
//! Our extension `log level <off|error|warn|info|debug|trace>` sets the
//! log level of the whole stub or daemon (`log::set_max_level`).

use log::LevelFilter;

/// C's trace switch names, in bit order.
const SWITCHES: [&str; 5] = ["obj", "io", "wrl", "acc", "tdb"];

/// The `io` class: requests and replies.
const IO: u8 = 1 << 1;

/// What `log on` enables (C's default `TRACE_OBJ | TRACE_IO`).
const DEFAULT: u8 = 1 | IO;

/// Why a `log` command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadLogCommand;

/// The enabled trace classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// Enabled switches, a bit per [`SWITCHES`] entry.
    on: u8,
}

impl Trace {
    /// Applies the arguments of `XS_CONTROL log`. With no argument nothing
    /// changes (as in C).
    pub fn command(&mut self, args: &[&str]) -> Result<(), BadLogCommand> {
        match args {
            [] => Ok(()),
            ["on"] => {
                self.on = DEFAULT;
                Ok(())
            }
            ["off"] => {
                self.on = 0;
                Ok(())
            }
            ["level", level] => {
                let level: LevelFilter = level.parse().map_err(|_| BadLogCommand)?;
                log::set_max_level(level);
                Ok(())
            }
            [switch] => {
                let (set, name) = match switch.split_at_checked(1) {
                    Some(("+", name)) => (true, name),
                    Some(("-", name)) => (false, name),
                    _ => return Err(BadLogCommand),
                };
                let bit = SWITCHES.iter().position(|s| *s == name).ok_or(BadLogCommand)?;
                let mask = 1u8 << bit;
                if set {
                    self.on |= mask;
                } else {
                    self.on &= !mask;
                }
                Ok(())
            }
            _ => Err(BadLogCommand),
        }
    }

    /// Whether requests and replies are traced.
    pub fn io(&self) -> bool {
        self.on & IO != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_off_and_switches() {
        let mut t = Trace::default();
        assert!(!t.io());
        t.command(&["on"]).unwrap();
        assert!(t.io());
        t.command(&["-io"]).unwrap();
        assert!(!t.io());
        t.command(&["+io"]).unwrap();
        assert!(t.io());
        t.command(&["off"]).unwrap();
        assert!(!t.io());
        t.command(&[]).unwrap();
        assert!(!t.io());
    }

    #[test]
    fn bad_commands_are_refused() {
        let mut t = Trace::default();
        for bad in [&["io"][..], &["+nope"], &["level", "loud"], &["on", "off"], &[""]] {
            assert_eq!(t.command(bad), Err(BadLogCommand), "{bad:?}");
        }
        assert_eq!(t, Trace::default());
    }

    #[test]
    fn level_sets_the_log_level() {
        let before = log::max_level();
        Trace::default().command(&["level", "trace"]).unwrap();
        assert_eq!(log::max_level(), LevelFilter::Trace);
        Trace::default().command(&["level", "warn"]).unwrap();
        assert_eq!(log::max_level(), LevelFilter::Warn);
        log::set_max_level(before);
    }
}
