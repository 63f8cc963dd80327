//! Command-line options of `xenstored-rs`.
//!
//! The daemon takes C xenstored's whole command line, every option C
//! 4.17 to 4.22 knows (`tools/xenstored/core.c` `options[]`), so that a
//! C xenstored can live-update into it: C execs the new binary with its
//! own arguments plus `-U`. What the two daemons share keeps C's meaning:
//! the quotas (`-E`, `-S`, `-W`, `-t`, `-A`, `-M`, `-Q`, `-q`), `-w`,
//! `-F`, `-P`, `-D`, `-K`, `-U`, `--event`, `--master-domid`,
//! `--priv-domid`; C's options that configure what we do not have
//! (`-T`, `--trace-control`, `-I`, `-R`) are accepted and ignored with a
//! warning, `-N` needs nothing (we never fork) and `-V` logs at debug
//! level. Unknown options and arguments are ignored with a warning, as
//! C's `getopt` loop does. Our own options are long only.
//!
//! The socket path defaults like libxenstore's `xs_daemon_socket()`:
//! `$XENSTORED_PATH`, else `$XENSTORED_RUNDIR/socket`, else
//! `/var/run/xenstored/socket`; the live-update state goes where C puts
//! it, `$XENSTORED_RUNDIR` else `/var/run/xenstored` (`--state-dir`
//! overrides); simulated guests are served in `--simring DIR`, else in
//! `$SIMRING_DIR` as the peers kit's shim does for C.

use std::ffi::OsString;
use std::path::PathBuf;

use ring::wire::XENSTORE_REL_PATH_MAX;

/// C's run directory (`XEN_RUN_STORED`) when `$XENSTORED_RUNDIR` is not set.
pub const DEFAULT_RUN_DIR: &str = "/var/run/xenstored";

/// dom0's event channel port in the simring convention when neither
/// `--event` nor `$XSSHIM_DOM0_PORT` says otherwise (the shim's default
/// `xsd_port` value).
pub const DEFAULT_DOM0_PORT: u32 = 1;

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
Usage: xenstored-rs [OPTIONS]

Serve xenstore on a Unix socket (every client is the privileged domain) and,
with --simring, to simulated guest domains over shared ring files.

C xenstored's options (4.17 to 4.22):
  -F, --pid-file PATH        write the daemon's pid to PATH
  -P, --output-pid           print the daemon's pid on standard output
  -N, --no-fork              accepted; the daemon never forks
  -D, --no-domain-init       do not serve dom0's ring (under --simring)
  -U, --live-update          take over from the previous server: read its
                             state from STATE-DIR/state_dump, keep its sockets
  -E, --entry-nb N           quota nodes=N
  -S, --entry-size N         quota node-size=N
  -W, --watch-nb N           quota watches=N
  -t, --transaction N        quota transactions=N
  -A, --perm-nb N            quota node-permissions=N
  -M, --path-max N           quota path-max=N (at most 2048)
  -Q, --quota NAME=VALUE     set a hard quota (e.g. nodes=1000, watches=128)
  -q, --quota-soft NAME=VALUE
                             set a soft quota (a warning is logged when passed)
  -w, --timeout watch-event=SECONDS
                             drop watch events unread for SECONDS (default 20)
  -K, --keep-orphans         give a dead domain's nodes to dom0, not delete them
  --event PORT               dom0's event channel port under --simring
                             (default: $XSSHIM_DOM0_PORT, else 1)
  --master-domid N           the domain the store runs in (default 0)
  --priv-domid N             the privileged domain (default 0)
  -V, --verbose              log at debug level
  -T, --trace-file, --trace-control, -I, --internal-db, -R, --no-recovery
                             accepted and ignored
  -H, -h, --help             print this help

Our own:
  --socket PATH              socket path (default: $XENSTORED_PATH, else
                             $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket)
  --state-dir DIR            where live update writes and reads its state
                             (default: $XENSTORED_RUNDIR, else /var/run/xenstored)
  --memory-budget SIZE       live heap bytes the daemon may use, as the stub's
                             heap (SIZE in bytes, or with K or M); requests that
                             would go past it get ENOMEM (default: no budget)
  --simring DIR              serve simulated guests over the simring convention
                             in DIR (default: $SIMRING_DIR, else none)
  --log-level LEVEL          off, error, warn, info (default), debug or trace
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
    /// Where live update's state file goes (C's run directory).
    pub state_dir: PathBuf,
    /// `-U`: take over from the previous server.
    pub live_update: bool,
    /// `-P`: print the pid on standard output once serving.
    pub output_pid: bool,
    /// `-D`: do not serve dom0's ring.
    pub no_domain_init: bool,
    /// `-K`: keep a dead domain's nodes.
    pub keep_orphans: bool,
    /// `--priv-domid`.
    pub priv_domid: Option<u16>,
    /// `--master-domid`.
    pub store_domid: Option<u16>,
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
    /// What was ignored (unknown or unsupported options, arguments), to
    /// be logged once the logger runs.
    pub warnings: Vec<String>,
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
    /// `$SIMRING_DIR`.
    pub simring_dir: Option<OsString>,
}

impl Environment {
    /// Reads the variables from the process environment.
    pub fn from_process() -> Environment {
        Environment {
            xenstored_path: std::env::var_os("XENSTORED_PATH"),
            xenstored_rundir: std::env::var_os("XENSTORED_RUNDIR"),
            dom0_port: std::env::var_os("XSSHIM_DOM0_PORT"),
            simring_dir: std::env::var_os("SIMRING_DIR"),
        }
    }

    /// C's run directory (`xs_daemon_rundir()`): `$XENSTORED_RUNDIR`,
    /// else [`DEFAULT_RUN_DIR`].
    fn run_dir(&self) -> PathBuf {
        match self.xenstored_rundir.as_ref().filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(DEFAULT_RUN_DIR),
        }
    }

    /// The default socket path, as libxenstore's `xs_daemon_socket()` finds it.
    fn socket_path(&self) -> PathBuf {
        if let Some(path) = self.xenstored_path.as_ref().filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        self.run_dir().join("socket")
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

        let mut o = Options {
            socket: env.socket_path(),
            state_dir: env.run_dir(),
            live_update: false,
            output_pid: false,
            no_domain_init: false,
            keep_orphans: false,
            priv_domid: None,
            store_domid: None,
            quotas: Vec::new(),
            watch_event_timeout_secs: None,
            pid_file: None,
            simring: env.simring_dir.as_ref().filter(|d| !d.is_empty()).map(PathBuf::from),
            memory_budget: None,
            dom0_port: DEFAULT_DOM0_PORT,
            log_level: log::LevelFilter::Info,
            help: false,
            warnings: Vec::new(),
        };
        let mut dom0_port = None;
        let mut log_level = None;
        let mut verbose = false;

        let mut parser = lexopt::Parser::from_args(args);
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            let hard = |name: &str, p: &mut lexopt::Parser| -> Result<QuotaSetting, String> {
                let value = parse_u32(name, &string_value(p)?)?;
                Ok(QuotaSetting { name: name.to_owned(), value, soft: false })
            };
            match arg {
                Long("socket") => o.socket = PathBuf::from(value(&mut parser)?),
                Long("state-dir") => o.state_dir = PathBuf::from(value(&mut parser)?),
                Short('Q') | Long("quota") => {
                    o.quotas.push(parse_quota(&string_value(&mut parser)?, false)?);
                }
                Short('q') | Long("quota-soft") => {
                    o.quotas.push(parse_quota(&string_value(&mut parser)?, true)?);
                }
                Short('E') | Long("entry-nb") => o.quotas.push(hard("nodes", &mut parser)?),
                Short('S') | Long("entry-size") => o.quotas.push(hard("node-size", &mut parser)?),
                Short('W') | Long("watch-nb") => o.quotas.push(hard("watches", &mut parser)?),
                Short('t') | Long("transaction") => {
                    o.quotas.push(hard("transactions", &mut parser)?);
                }
                Short('A') | Long("perm-nb") => {
                    o.quotas.push(hard("node-permissions", &mut parser)?);
                }
                Short('M') | Long("path-max") => {
                    let mut q = hard("path-max", &mut parser)?;
                    // C: at most XENSTORE_REL_PATH_MAX.
                    q.value = q.value.min(u32::try_from(XENSTORE_REL_PATH_MAX).unwrap_or(u32::MAX));
                    o.quotas.push(q);
                }
                Short('w') | Long("timeout") => {
                    o.watch_event_timeout_secs = Some(parse_timeout(&string_value(&mut parser)?)?);
                }
                Short('F') | Long("pid-file") => {
                    o.pid_file = Some(PathBuf::from(value(&mut parser)?))
                }
                Short('P') | Long("output-pid") => o.output_pid = true,
                Short('D') | Long("no-domain-init") => o.no_domain_init = true,
                Short('K') | Long("keep-orphans") => o.keep_orphans = true,
                Short('U') | Long("live-update") => o.live_update = true,
                Short('N') | Long("no-fork") => {}
                Short('V') | Long("verbose") => verbose = true,
                Long("simring") => o.simring = Some(PathBuf::from(value(&mut parser)?)),
                Long("memory-budget") => {
                    o.memory_budget = Some(parse_size(&string_value(&mut parser)?)?)
                }
                Long("event") => {
                    dom0_port = Some(parse_u32("--event", &string_value(&mut parser)?)?)
                }
                Long("master-domid") => {
                    o.store_domid =
                        Some(parse_domid("--master-domid", &string_value(&mut parser)?)?)
                }
                Long("priv-domid") => {
                    o.priv_domid = Some(parse_domid("--priv-domid", &string_value(&mut parser)?)?)
                }
                Long("log-level") => log_level = Some(parse_level(&string_value(&mut parser)?)?),
                Short('T') | Long("trace-file") | Long("trace-control") => {
                    let name = arg_name(&arg);
                    let v = value(&mut parser)?;
                    o.warnings
                        .push(format!("ignoring {name} {}: not supported", v.to_string_lossy()));
                }
                Short('I') | Long("internal-db") => {
                    let name = arg_name(&arg);
                    // An optional attached value (`-Ioff`), as with getopt.
                    let _ = parser.optional_value();
                    o.warnings.push(format!("ignoring {name}: not supported"));
                }
                Short('R') | Long("no-recovery") => {
                    o.warnings.push(format!("ignoring {}: not supported", arg_name(&arg)));
                }
                Short('H' | 'h') | Long("help") => {
                    let _ = parser.optional_value();
                    o.help = true;
                }
                Value(v) => o.warnings.push(format!("ignoring argument {}", v.to_string_lossy())),
                other => {
                    let name = arg_name(&other);
                    if let Long(_) = other {
                        // A value attached to an unknown long option goes too.
                        let _ = parser.optional_value();
                    }
                    o.warnings.push(format!("ignoring unknown option {name}"));
                }
            }
        }

        o.dom0_port = match (dom0_port, env.dom0_port.as_ref()) {
            (Some(port), _) => port,
            (None, Some(var)) => parse_u32("XSSHIM_DOM0_PORT", &var.to_string_lossy())?,
            (None, None) => DEFAULT_DOM0_PORT,
        };
        o.log_level = match (log_level, verbose) {
            (Some(level), _) => level,
            (None, true) => log::LevelFilter::Debug,
            (None, false) => log::LevelFilter::Info,
        };
        Ok(o)
    }
}

/// An option as the user wrote it, for messages.
fn arg_name(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// Parses a domain id for `what`.
fn parse_domid(what: &str, text: &str) -> Result<u16, String> {
    text.trim().parse().map_err(|_| format!("{what}: {text:?} is not a domain id"))
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

    fn quota(name: &str, value: u32, soft: bool) -> QuotaSetting {
        QuotaSetting { name: name.into(), value, soft }
    }

    #[test]
    fn defaults_follow_xs_daemon_socket() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.socket, PathBuf::from("/var/run/xenstored/socket"));
        assert_eq!(o.state_dir, PathBuf::from(DEFAULT_RUN_DIR));
        assert_eq!(o.dom0_port, DEFAULT_DOM0_PORT);
        assert_eq!(o.log_level, log::LevelFilter::Info);
        assert_eq!(o.simring, None);
        assert!(!o.live_update && o.warnings.is_empty());

        let env = Environment {
            xenstored_rundir: Some("/run/x".into()),
            simring_dir: Some("/tmp/sr".into()),
            ..Default::default()
        };
        let o = Options::parse(Vec::<String>::new(), &env).unwrap();
        assert_eq!(o.socket, PathBuf::from("/run/x/socket"));
        assert_eq!(o.state_dir, PathBuf::from("/run/x"));
        assert_eq!(o.simring, Some(PathBuf::from("/tmp/sr")));

        let env = Environment {
            xenstored_path: Some("/tmp/s".into()),
            xenstored_rundir: Some("/run/x".into()),
            dom0_port: Some("7".into()),
            simring_dir: None,
        };
        let o = Options::parse(Vec::<String>::new(), &env).unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/s"));
        assert_eq!(o.state_dir, PathBuf::from("/run/x"));
        assert_eq!(o.dom0_port, 7);
    }

    #[test]
    fn our_options_parse() {
        let o = parse(&[
            "--socket",
            "/tmp/a",
            "--state-dir=/tmp/st",
            "--simring",
            "/tmp/sr",
            "--event",
            "9",
            "--log-level",
            "DEBUG",
            "--memory-budget",
            "4M",
        ])
        .unwrap();
        assert_eq!(o.socket, PathBuf::from("/tmp/a"));
        assert_eq!(o.state_dir, PathBuf::from("/tmp/st"));
        assert_eq!(o.simring, Some(PathBuf::from("/tmp/sr")));
        assert_eq!(o.dom0_port, 9);
        assert_eq!(o.log_level, log::LevelFilter::Debug);
        assert_eq!(o.memory_budget, Some(4 << 20));
        assert!(!o.help);
        assert!(parse(&["-h"]).unwrap().help);
    }

    #[test]
    fn c_command_lines_parse() {
        // What `peers start c` runs, and what C's live update adds.
        let o = parse(&["-N", "-F", "/run/pid", "-W", "50", "-w", "watch-event=2", "-U"]).unwrap();
        assert!(o.live_update);
        assert_eq!(o.pid_file, Some(PathBuf::from("/run/pid")));
        assert_eq!(o.quotas, vec![quota("watches", 50, false)]);
        assert_eq!(o.watch_event_timeout_secs, Some(2));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);

        let o = parse(&[
            "--entry-nb=10",
            "-S",
            "2000",
            "-t",
            "3",
            "-A5",
            "--path-max",
            "9999",
            "-Q",
            "nodes=5",
            "--quota-soft=memory=100",
            "-PDKV",
            "--master-domid",
            "1",
            "--priv-domid=2",
            "--live-update",
            "--no-fork",
        ])
        .unwrap();
        assert_eq!(
            o.quotas,
            vec![
                quota("nodes", 10, false),
                quota("node-size", 2000, false),
                quota("transactions", 3, false),
                quota("node-permissions", 5, false),
                quota("path-max", 2048, false),
                quota("nodes", 5, false),
                quota("memory", 100, true),
            ]
        );
        assert!(o.output_pid && o.no_domain_init && o.keep_orphans && o.live_update);
        assert_eq!(o.log_level, log::LevelFilter::Debug, "-V");
        assert_eq!((o.store_domid, o.priv_domid), (Some(1), Some(2)));
        assert!(o.warnings.is_empty(), "{:?}", o.warnings);
        assert!(parse(&["-H"]).unwrap().help);
        assert!(parse(&["--help=x"]).unwrap().help);
    }

    #[test]
    fn unsupported_and_unknown_options_are_ignored_with_a_warning() {
        let o = parse(&[
            "-T",
            "/tmp/trace",
            "--trace-control=+io",
            "-Ioff",
            "--internal-db",
            "-R",
            "--bogus",
            "--bogus-too=1",
            "-x",
            "stray",
            "-W",
            "7",
        ])
        .unwrap();
        assert_eq!(o.warnings.len(), 9, "{:?}", o.warnings);
        assert!(o.warnings.iter().any(|w| w.contains("--bogus-too")));
        assert_eq!(o.quotas, vec![quota("watches", 7, false)], "parsing went on");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&["-Q", "nodes"]).is_err());
        assert!(parse(&["-Q", "=5"]).is_err());
        assert!(parse(&["-Q", "nodes=x"]).is_err());
        assert!(parse(&["-E", "many"]).is_err());
        assert!(parse(&["-w", "transaction=5"]).is_err());
        assert!(parse(&["--log-level", "loud"]).is_err());
        assert!(parse(&["--priv-domid", "70000"]).is_err());
        assert!(parse(&["--socket"]).is_err());
    }
}
