//! Command-line options of `xenstored-rs`.
//!
//! The option names follow C xenstored (`tools/xenstored/core.c` `options[]`)
//! where the two daemons share a meaning: `-Q/--quota name=value`,
//! `-q/--quota-soft name=value`, `-w/--timeout watch-event=SECONDS`,
//! `-F/--pid-file`, `-N/--no-fork` (accepted, we never fork) and `--event`.
//! The socket path defaults like libxenstore's `xs_daemon_socket()`:
//! `$XENSTORED_PATH`, else `$XENSTORED_RUNDIR/socket`, else
//! `/var/run/xenstored/socket`.

use std::ffi::OsString;
use std::path::PathBuf;

/// Where the socket lives when neither `--socket` nor the environment says.
pub const DEFAULT_SOCKET_PATH: &str = "/var/run/xenstored/socket";

/// dom0's event channel port in the simring convention when neither
/// `--event` nor `$XSSHIM_DOM0_PORT` says otherwise (the shim's default
/// `xsd_port` value).
pub const DEFAULT_DOM0_PORT: u32 = 1;

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
Usage: xenstored-rs [OPTIONS]

Serve xenstore on a Unix socket (every client is the privileged domain) and,
with --simring, to simulated guest domains over shared ring files.

Options:
  --socket PATH              socket path (default: $XENSTORED_PATH, else
                             $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket)
  -Q, --quota NAME=VALUE     set a hard quota (e.g. nodes=1000, watches=128)
  -q, --quota-soft NAME=VALUE
                             set a soft quota (a warning is logged when passed)
  -w, --timeout watch-event=SECONDS
                             drop watch events unread for SECONDS (default 20)
  -F, --pid-file PATH        write the daemon's pid to PATH
  -M, --memory-budget SIZE   live heap bytes the daemon may use, as the stub's
                             heap (SIZE in bytes, or with K or M); requests that
                             would go past it get ENOMEM (default: no budget)
  --simring DIR              serve simulated guests over the simring convention in DIR
  --event PORT               dom0's event channel port under --simring
                             (default: $XSSHIM_DOM0_PORT, else 1)
  --log-level LEVEL          off, error, warn, info (default), debug or trace
  -N, --no-fork              accepted for compatibility; the daemon never forks
  -h, --help                 print this help
";

/// One `-Q`/`-q` setting as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaSetting {
    /// The quota's name, e.g. `nodes`.
    pub name: String,
    /// The new value.
    pub value: u32,
    /// `true` for `-q` (soft limit), `false` for `-Q` (hard limit).
    pub soft: bool,
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The Unix socket to listen on.
    pub socket: PathBuf,
    /// Quota settings in command-line order.
    pub quotas: Vec<QuotaSetting>,
    /// How long unread watch events are kept, in seconds (`None`: default).
    pub watch_event_timeout_secs: Option<u32>,
    /// Where to write the pid, if anywhere.
    pub pid_file: Option<PathBuf>,
    /// The simring directory, if simulated guests are served.
    pub simring: Option<PathBuf>,
    /// The memory budget's heap size in bytes (`None`: no budget).
    pub memory_budget: Option<usize>,
    /// dom0's event channel port for the simring convention.
    pub dom0_port: u32,
    /// The most verbose level logged.
    pub log_level: log::LevelFilter,
    /// `--help` was given: print [`USAGE`] and exit.
    pub help: bool,
}

/// What the environment contributes to the defaults (kept apart so tests can
/// supply their own).
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// `$XENSTORED_PATH`.
    pub xenstored_path: Option<OsString>,
    /// `$XENSTORED_RUNDIR`.
    pub xenstored_rundir: Option<OsString>,
    /// `$XSSHIM_DOM0_PORT`.
    pub dom0_port: Option<OsString>,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Environment {
        Environment {
            xenstored_path: std::env::var_os("XENSTORED_PATH"),
            xenstored_rundir: std::env::var_os("XENSTORED_RUNDIR"),
            dom0_port: std::env::var_os("XSSHIM_DOM0_PORT"),
        }
    }

    /// The default socket path, as libxenstore's `xs_daemon_socket()` finds it.
    fn socket_path(&self) -> PathBuf {
        if let Some(path) = self.xenstored_path.as_ref().filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        if let Some(dir) = self.xenstored_rundir.as_ref().filter(|d| !d.is_empty()) {
            return PathBuf::from(dir).join("socket");
        }
        PathBuf::from(DEFAULT_SOCKET_PATH)
    }
}

impl Options {
    /// Parses `args` (without the program name) against `env`.
    pub fn parse<I>(args: I, env: &Environment) -> Result<Options, String>
    where
        I: IntoIterator,
        I::Item: Into<OsString>,
    {
        use lexopt::prelude::*;

        let mut socket = None;
        let mut quotas = Vec::new();
        let mut watch_event_timeout_secs = None;
        let mut pid_file = None;
        let mut simring = None;
        let mut dom0_port = None;
        let mut memory_budget = None;
        let mut log_level = log::LevelFilter::Info;
        let mut help = false;

        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            match arg {
                Long("socket") => socket = Some(PathBuf::from(value(&mut parser)?)),
                Short('Q') | Long("quota") => {
                    quotas.push(parse_quota(&string_value(&mut parser)?, false)?);
                }
                Short('q') | Long("quota-soft") => {
                    quotas.push(parse_quota(&string_value(&mut parser)?, true)?);
                }
                Short('w') | Long("timeout") => {
                    watch_event_timeout_secs = Some(parse_timeout(&string_value(&mut parser)?)?);
                }
                Short('F') | Long("pid-file") => {
                    pid_file = Some(PathBuf::from(value(&mut parser)?))
                }
                Long("simring") => simring = Some(PathBuf::from(value(&mut parser)?)),
                Short('M') | Long("memory-budget") => {
                    memory_budget = Some(parse_size(&string_value(&mut parser)?)?)
                }
                Long("event") => {
                    dom0_port = Some(parse_u32("--event", &string_value(&mut parser)?)?)
                }
                Long("log-level") => log_level = parse_level(&string_value(&mut parser)?)?,
                Short('N') | Long("no-fork") => {}
                Short('h') | Long("help") => help = true,
                other => return Err(other.unexpected().to_string()),
            }
        }

        let dom0_port = match (dom0_port, env.dom0_port.as_ref()) {
            (Some(port), _) => port,
            (None, Some(var)) => parse_u32("XSSHIM_DOM0_PORT", &var.to_string_lossy())?,
            (None, None) => DEFAULT_DOM0_PORT,
        };
        Ok(Options {
            socket: socket.unwrap_or_else(|| env.socket_path()),
            quotas,
            watch_event_timeout_secs,
            pid_file,
            simring,
            memory_budget,
            dom0_port,
            log_level,
            help,
        })
    }
}

/// The option's value as given.
fn value(parser: &mut lexopt::Parser) -> Result<OsString, String> {
    parser.value().map_err(|e| e.to_string())
}

/// The option's value, which must be valid UTF-8.
fn string_value(parser: &mut lexopt::Parser) -> Result<String, String> {
    value(parser)?.into_string().map_err(|v| format!("invalid value {v:?}"))
}

/// Parses a decimal `u32` for the option or variable `what`.
fn parse_u32(what: &str, text: &str) -> Result<u32, String> {
    text.trim().parse().map_err(|_| format!("{what}: {text:?} is not a number"))
}

/// Parses `name=value` of `-Q`/`-q`.
fn parse_quota(text: &str, soft: bool) -> Result<QuotaSetting, String> {
    let (name, value) =
        text.split_once('=').ok_or_else(|| format!("quota {text:?}: expected NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("quota {text:?}: empty name"));
    }
    Ok(QuotaSetting { name: name.to_owned(), value: parse_u32(name, value)?, soft })
}

/// Parses `watch-event=SECONDS` of `-w`; C knows no other timeout name.
fn parse_timeout(text: &str) -> Result<u32, String> {
    match text.split_once('=') {
        Some(("watch-event", secs)) => parse_u32("watch-event", secs),
        _ => Err(format!("timeout {text:?}: expected watch-event=SECONDS")),
    }
}

/// Parses a size in bytes, optionally with a `K` or `M` suffix.
fn parse_size(text: &str) -> Result<usize, String> {
    let bad = || format!("size {text:?}: expected bytes, or a number with K or M");
    let (digits, unit) = match text.trim().strip_suffix(['K', 'k']) {
        Some(d) => (d, 1024usize),
        None => match text.trim().strip_suffix(['M', 'm']) {
            Some(d) => (d, 1024 * 1024),
            None => (text.trim(), 1),
        },
    };
    let n: usize = digits.parse().map_err(|_| bad())?;
    n.checked_mul(unit).ok_or_else(bad)
}

/// Parses a `log` level name, case-insensitively.
fn parse_level(text: &str) -> Result<log::LevelFilter, String> {
    text.parse()
        .map_err(|_| format!("log level {text:?}: expected off, error, warn, info, debug or trace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(args.iter().copied(), &Environment::default())
    }

    #[test]
    fn defaults_follow_xs_daemon_socket() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.socket, PathBuf::from(DEFAULT_SOCKET_PATH));
        assert_eq!(o.dom0_port, DEFAULT_DOM0_PORT);
        assert_eq!(o.log_level, log::LevelFilter::Info);

        let env = Environment { xenstored_rundir: Some("/run/x".into()), ..Default::default() };
        let o = Options::parse(Vec::<String>::new(), &env).unwrap();
        assert_eq!(o.socket, PathBuf::from("/run/x/socket"));

        let env = Environment {
            xenstored_path: Some("/tmp/s".into()),
            xenstored_rundir: Some("/run/x".into()),
            dom0_port: Some("7".into()),
        };
        let o = Options::parse(Vec::<String>::new(), &env).unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/s"));
        assert_eq!(o.dom0_port, 7);
    }

    #[test]
    fn c_style_options_parse() {
        let o = parse(&[
            "--socket",
            "/tmp/a",
            "-Q",
            "nodes=5",
            "--quota-soft=memory=100",
            "-w",
            "watch-event=3",
            "-F",
            "/tmp/pid",
            "--simring",
            "/tmp/sr",
            "--event",
            "9",
            "--log-level",
            "DEBUG",
            "-N",
        ])
        .unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/a"));
        assert_eq!(
            o.quotas,
            vec![
                QuotaSetting { name: "nodes".into(), value: 5, soft: false },
                QuotaSetting { name: "memory".into(), value: 100, soft: true },
            ]
        );
        assert_eq!(o.watch_event_timeout_secs, Some(3));
        assert_eq!(o.pid_file, Some(PathBuf::from("/tmp/pid")));
        assert_eq!(o.simring, Some(PathBuf::from("/tmp/sr")));
        assert_eq!(o.dom0_port, 9);
        assert_eq!(o.log_level, log::LevelFilter::Debug);
        assert!(!o.help);
        assert!(parse(&["-h"]).unwrap().help);
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["-Q", "nodes"]).is_err());
        assert!(parse(&["-Q", "=5"]).is_err());
        assert!(parse(&["-Q", "nodes=x"]).is_err());
        assert!(parse(&["-w", "transaction=5"]).is_err());
        assert!(parse(&["--log-level", "loud"]).is_err());
        assert!(parse(&["--socket"]).is_err());
    }
}
