//! The stub's command line.
//!
//! `init-xenstore-domain` passes `--event <port>` (the dom0-side port of dom0's
//! xenbus channel) followed by the administrator's `--param` string
//! (`tools/helpers/init-xenstore-domain.c`); up to 4.16 it also passed
//! `--internal-db`. Our own options:
//!
//! * `--log-level <off|error|warn|info|debug|trace>` (default `info`);
//! * `-Q <name>=<value>` / `--quota <name>=<value>`: a global quota;
//! * `--heap-max <bytes>[K|M]`: cap the heap below what memory allows;
//! * `--priv-domid <domid>`: the privileged domain (default 0);
//! * `-w watch-event=<seconds>` / `--timeout watch-event=<seconds>`: how
//!   long an unread watch event is kept (C xenstored's option; default 20,
//!   0 = forever);
//! * `--poll-us <microseconds>`: after serving a ring, stay awake that long
//!   watching for the next request before halting (0 = off; at most
//!   10 000; see [`crate::poll`]).
//!
//! Options take their value either as the next word or after `=`. Unknown
//! options and stray words are collected, logged and ignored, as C xenstored
//! ignores what its getopt loop does not know.

use heapless::Vec;
use log::LevelFilter;
use store::QuotaOption;

/// Most `-Q` options kept (there are 9 quota kinds).
pub const MAX_QUOTA_OPTIONS: usize = 16;
/// Most unknown words kept for the log.
pub const MAX_UNKNOWN_OPTIONS: usize = 16;

/// Parsed command-line options; strings borrow the command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// `--event`: the port dom0 allocated for us.
    pub event: Option<u32>,
    /// `--log-level`.
    pub log_level: LevelFilter,
    /// `-Q name=value` (hard limits), in order.
    pub quotas: Vec<QuotaOption<'a>, MAX_QUOTA_OPTIONS>,
    /// `--heap-max`.
    pub heap_max_bytes: Option<u64>,
    /// `--priv-domid`.
    pub priv_domid: Option<u16>,
    /// `-w watch-event=<seconds>`.
    pub watch_event_timeout_s: Option<u32>,
    /// `--poll-us`.
    pub poll_us: Option<u32>,
    /// `--on-shutdown destroy` (dom0less, control capability): destroy
    /// domains that shut down for good; `keep` (the default) leaves them
    /// to a toolstack, as C xenstored does.
    pub destroy_on_shutdown: bool,
    /// Options and words we do not understand, or whose value is bad.
    pub unknown: Vec<&'a str, MAX_UNKNOWN_OPTIONS>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            event: None,
            log_level: LevelFilter::Info,
            quotas: Vec::new(),
            heap_max_bytes: None,
            priv_domid: None,
            watch_event_timeout_s: None,
            poll_us: None,
            destroy_on_shutdown: false,
            unknown: Vec::new(),
        }
    }
}

/// Options that take a value.
const VALUE_OPTIONS: [&str; 10] = [
    "--event",
    "--log-level",
    "-Q",
    "--quota",
    "--heap-max",
    "--priv-domid",
    "-w",
    "--timeout",
    "--poll-us",
    "--on-shutdown",
];

/// Parses `cmdline`.
pub fn parse(cmdline: &str) -> Options<'_> {
    let mut opts = Options::default();
    let mut words = cmdline.split_ascii_whitespace();
    while let Some(word) = words.next() {
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (word, None),
        };
        // `-Qname=value` written without a space.
        let (name, inline) = match name.strip_prefix("-Q") {
            Some(rest) if !rest.is_empty() && !name.starts_with("--") => ("-Q", Some(rest)),
            _ => (name, inline),
        };
        if !VALUE_OPTIONS.contains(&name) {
            let _ = opts.unknown.push(word);
            continue;
        }
        let Some(value) = inline.or_else(|| words.next()) else {
            let _ = opts.unknown.push(word);
            continue;
        };
        if apply(&mut opts, name, value).is_none() {
            let _ = opts.unknown.push(word);
        }
    }
    opts
}

/// Applies one option; `None` if its value is invalid.
fn apply<'a>(opts: &mut Options<'a>, name: &str, value: &'a str) -> Option<()> {
    match name {
        "--event" => opts.event = Some(value.parse().ok()?),
        "--log-level" => opts.log_level = parse_level(value)?,
        "-Q" | "--quota" => {
            let (name, v) = value.split_once('=')?;
            let quota = QuotaOption { name, value: v.parse().ok()?, soft: false };
            opts.quotas.push(quota).ok()?;
        }
        "--heap-max" => opts.heap_max_bytes = Some(parse_size(value)?),
        "--priv-domid" => opts.priv_domid = Some(value.parse().ok()?),
        "--poll-us" => opts.poll_us = Some(value.parse().ok()?),
        "-w" | "--timeout" => match value.split_once('=')? {
            ("watch-event", secs) => opts.watch_event_timeout_s = Some(secs.parse().ok()?),
            _ => return None,
        },
        "--on-shutdown" => {
            opts.destroy_on_shutdown = match value {
                "destroy" => true,
                "keep" => false,
                _ => return None,
            }
        }
        _ => return None,
    }
    Some(())
}

/// A log level name (case-insensitive).
fn parse_level(s: &str) -> Option<LevelFilter> {
    [
        ("off", LevelFilter::Off),
        ("error", LevelFilter::Error),
        ("warn", LevelFilter::Warn),
        ("info", LevelFilter::Info),
        ("debug", LevelFilter::Debug),
        ("trace", LevelFilter::Trace),
    ]
    .into_iter()
    .find_map(|(n, l)| n.eq_ignore_ascii_case(s).then_some(l))
}

/// A byte count with an optional `K`/`M` suffix.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, mult) = if let Some(d) = s.strip_suffix(['K', 'k']) {
        (d, 1024)
    } else if let Some(d) = s.strip_suffix(['M', 'm']) {
        (d, 1024 * 1024)
    } else {
        (s, 1)
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launcher_line() {
        let o = parse("--event 14");
        assert_eq!(o.event, Some(14));
        assert_eq!(o.log_level, LevelFilter::Info);
        assert!(o.unknown.is_empty());
    }

    #[test]
    fn old_launcher_and_unknown_options_are_ignored() {
        let o = parse("--event 3 --internal-db --master-domid 0 stray");
        assert_eq!(o.event, Some(3));
        assert_eq!(o.unknown.as_slice(), &["--internal-db", "--master-domid", "0", "stray"]);
    }

    #[test]
    fn own_options() {
        let o = parse("--event=7 --log-level DEBUG -Q nodes=2000 -Qwatches=50 --quota=outstanding=5 --heap-max 3M --priv-domid 1");
        assert_eq!(o.event, Some(7));
        assert_eq!(o.log_level, LevelFilter::Debug);
        let quotas: std::vec::Vec<_> = o.quotas.iter().map(|q| (q.name, q.value, q.soft)).collect();
        assert_eq!(
            quotas,
            [("nodes", 2000, false), ("watches", 50, false), ("outstanding", 5, false)]
        );
        assert_eq!(o.heap_max_bytes, Some(3 * 1024 * 1024));
        assert_eq!(o.priv_domid, Some(1));
        assert_eq!(o.poll_us, None);
        assert_eq!(parse("--poll-us 200").poll_us, Some(200));
        assert_eq!(parse("--poll-us=0").poll_us, Some(0));
        assert_eq!(parse("--poll-us -1").unknown.as_slice(), &["--poll-us"]);
    }

    #[test]
    fn watch_event_timeout() {
        assert_eq!(parse("-w watch-event=3").watch_event_timeout_s, Some(3));
        assert_eq!(parse("--timeout=watch-event=0").watch_event_timeout_s, Some(0));
        let o = parse("-w transaction=3 -w watch-event=x");
        assert_eq!(o.watch_event_timeout_s, None);
        assert_eq!(o.unknown.len(), 2);
    }

    #[test]
    fn bad_values_are_reported_not_fatal() {
        let o =
            parse("--event x --log-level loud -Q nodes --heap-max 99999999999999999999M --event");
        assert_eq!(o.event, None);
        assert_eq!(o.log_level, LevelFilter::Info);
        assert_eq!(o.unknown.len(), 5);
    }

    #[test]
    fn on_shutdown() {
        assert!(!parse("").destroy_on_shutdown, "C's behaviour by default");
        assert!(parse("--on-shutdown destroy").destroy_on_shutdown);
        assert!(!parse("--on-shutdown=destroy --on-shutdown=keep").destroy_on_shutdown);
        let o = parse("--on-shutdown reboot");
        assert!(!o.destroy_on_shutdown);
        assert_eq!(o.unknown.as_slice(), &["--on-shutdown"]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size(""), None);
    }
}
