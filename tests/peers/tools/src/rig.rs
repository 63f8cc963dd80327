//! xs-rig-bench: the in-rig benchmark client. It talks raw xenstore protocol
//! through a kernel's xenbus device (`/dev/xen/xenbus`, in a PV guest or in
//! dom0) or through a daemon's Unix socket, one request in flight, every
//! reply checked, and measures what a guest or the toolstack feels on a real
//! Xen host (`bench/rig.sh` runs it in the Xen rig).
//!
//! ```text
//! xs-rig-bench PATH [--label L] [--rt N] [--fill N] [--per-dir N]
//!                   [--dir-reads N] [--runs R] [--base REL]
//! ```
//!
//! All nodes live under the relative path `REL` (default `data/bench`),
//! that is under the caller's home `/local/domain/<domid>/`, in the
//! `data` directory a guest may write (libxl makes the home itself
//! read-only to the guest); `REL` is removed before and after. Each measurement runs `R`
//! times (default 3) and reports the median run:
//!
//! - `rt`: N sequential pairs (WRITE `REL/rt` `<i>`; READ it back), ops/s
//!   counting both, per-request p50/p99 latency;
//! - `fill`: N WRITEs of new nodes `REL/fill/d<i/per_dir>/n<i>`
//!   (16-byte values), writes/s (the previous run's fill removed first);
//! - `dir`: N DIRECTORY requests of one directory of the fill with
//!   `per_dir` children, requests/s;
//! - `walk`: a `xenstore-ls`-like walk of the fill (DIRECTORY of every
//!   node, READ of every node), nodes/s and requests/s.
//!
//! Each measurement prints one machine-readable line, the median run's:
//!
//! ```text
//! XSRIG {"label":"L","metric":"rt","ops_s":...,"p50_us":...,"p99_us":...,"n":N,"runs":R}
//! ```
//!
//! Exit status: 1 for usage errors, 2 when the device or socket fails, 3
//! for a wrong reply.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xs_peer_tools::{Failure, XS_DIRECTORY, XS_ERROR, XS_READ, XS_RM, XS_WRITE};

/// A byte stream to xenstore: the xenbus device or a Unix socket.
enum Channel {
    /// `/dev/xen/xenbus`: the kernel takes whole messages per write.
    Device(File),
    /// A daemon's socket.
    Socket(UnixStream),
}

impl Channel {
    /// Opens `path`: a socket is connected, anything else opened read-write.
    fn open(path: &str) -> io::Result<Channel> {
        if std::fs::metadata(path)?.file_type().is_socket() {
            return UnixStream::connect(path).map(Channel::Socket);
        }
        OpenOptions::new().read(true).write(true).open(path).map(Channel::Device)
    }
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Device(f) => f.read(buf),
            Channel::Socket(s) => s.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Device(f) => f.write(buf),
            Channel::Socket(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A client on the xenbus device or a socket.
type Client = xs_peer_tools::Client<Channel>;

/// What the rig's benchmark asks of a client beyond one request.
trait Checked {
    /// Sends a request that must be answered with its own type.
    fn expect(&mut self, ty: u32, parts: &[&[u8]], what: &str) -> Result<(), Failure>;
    /// Removes `path` (ENOENT is fine).
    fn remove(&mut self, path: &str) -> Result<(), Failure>;
}

impl Checked for Client {
    fn expect(&mut self, ty: u32, parts: &[&[u8]], what: &str) -> Result<(), Failure> {
        let got = self.request(ty, parts)?;
        if got == ty {
            return Ok(());
        }
        let kind = if got == XS_ERROR { "error" } else { "unexpected reply" };
        Err(Failure::Reply(format!(
            "{what}: {kind} {got}: {}",
            String::from_utf8_lossy(&self.reply)
        )))
    }

    fn remove(&mut self, path: &str) -> Result<(), Failure> {
        let p = nul(path);
        let got = self.request(XS_RM, &[p.as_bytes()])?;
        if got == XS_RM || (got == XS_ERROR && self.reply.starts_with(b"ENOENT")) {
            return Ok(());
        }
        Err(Failure::Reply(format!("rm {path}: {}", String::from_utf8_lossy(&self.reply))))
    }
}

/// `s` with the terminating NUL the wire wants for paths.
fn nul(s: &str) -> String {
    format!("{s}\0")
}

/// What one run of a measurement found.
#[derive(Clone, Default)]
struct Run {
    /// Requests (or nodes, for the walk) per second.
    rate: f64,
    /// Requests per second where it differs from `rate` (the walk).
    reqs_s: f64,
    /// Per-request latencies, sorted (round trips only).
    lat: Vec<Duration>,
}

/// Microseconds of the quantile `q` of sorted latencies.
fn quantile_us(lat: &[Duration], q: f64) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    let i = ((lat.len() as f64) * q) as usize;
    lat[i.min(lat.len() - 1)].as_secs_f64() * 1e6
}

/// Sequential WRITE+READ pairs on one node.
fn round_trips(c: &mut Client, base: &str, pairs: usize) -> Result<Run, Failure> {
    let path = nul(&format!("{base}/rt"));
    let mut lat = Vec::with_capacity(2 * pairs);
    let start = Instant::now();
    for i in 0..pairs {
        let value = i.to_string();
        let t = Instant::now();
        c.expect(XS_WRITE, &[path.as_bytes(), value.as_bytes()], "rt write")?;
        lat.push(t.elapsed());
        let t = Instant::now();
        c.expect(XS_READ, &[path.as_bytes()], "rt read")?;
        lat.push(t.elapsed());
        if c.reply != value.as_bytes() {
            return Err(Failure::Reply(format!("rt read {i}: wrong value")));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let rate = 2.0 * pairs as f64 / secs;
    Ok(Run { rate, reqs_s: rate, lat })
}

/// WRITEs of `nodes` new nodes under `REL/fill` (removed first, untimed:
/// a guest's node quota, 1000 by default, holds one fill, not three),
/// `per_dir` per directory.
fn fill(c: &mut Client, base: &str, nodes: usize, per_dir: usize) -> Result<Run, Failure> {
    const VALUE: &[u8] = b"0123456789abcdef";
    c.remove(&format!("{base}/fill"))?;
    let start = Instant::now();
    for i in 0..nodes {
        let p = nul(&format!("{base}/fill/d{}/n{i}", i / per_dir));
        c.expect(XS_WRITE, &[p.as_bytes(), VALUE], "fill write")?;
    }
    let rate = nodes as f64 / start.elapsed().as_secs_f64();
    Ok(Run { rate, reqs_s: rate, lat: Vec::new() })
}

/// `reads` DIRECTORY requests of `dir`, which must list `children` names.
fn dir_reads(c: &mut Client, dir: &str, children: usize, reads: usize) -> Result<Run, Failure> {
    let p = nul(dir);
    let start = Instant::now();
    for _ in 0..reads {
        c.expect(XS_DIRECTORY, &[p.as_bytes()], "directory")?;
        let names = c.reply.iter().filter(|&&b| b == 0).count();
        if names != children {
            return Err(Failure::Reply(format!("directory {dir}: {names} names, not {children}")));
        }
    }
    let rate = reads as f64 / start.elapsed().as_secs_f64();
    Ok(Run { rate, reqs_s: rate, lat: Vec::new() })
}

/// A `xenstore-ls`-like walk of `root`: READ and DIRECTORY of every node,
/// depth first; returns the nodes seen and the requests sent.
fn walk(c: &mut Client, root: &str) -> Result<(usize, usize), Failure> {
    let (mut nodes, mut reqs) = (0usize, 0usize);
    let mut todo = vec![root.to_string()];
    while let Some(path) = todo.pop() {
        let p = nul(&path);
        c.expect(XS_READ, &[p.as_bytes()], "walk read")?;
        c.expect(XS_DIRECTORY, &[p.as_bytes()], "walk directory")?;
        nodes += 1;
        reqs += 2;
        for name in c.reply.split(|&b| b == 0).filter(|n| !n.is_empty()) {
            todo.push(format!("{path}/{}", String::from_utf8_lossy(name)));
        }
    }
    Ok((nodes, reqs))
}

/// One timed walk of `root`, which must hold `expect` nodes.
fn timed_walk(c: &mut Client, root: &str, expect: usize) -> Result<Run, Failure> {
    let start = Instant::now();
    let (nodes, reqs) = walk(c, root)?;
    let secs = start.elapsed().as_secs_f64();
    if nodes != expect {
        return Err(Failure::Reply(format!("walk of {root}: {nodes} nodes, not {expect}")));
    }
    Ok(Run { rate: nodes as f64 / secs, reqs_s: reqs as f64 / secs, lat: Vec::new() })
}

/// The run with the median rate.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    runs.swap_remove(runs.len() / 2)
}

/// Prints one result line.
fn report(label: &str, metric: &str, n: usize, runs: usize, r: &Run) {
    let mut line = format!(
        "XSRIG {{\"label\":\"{label}\",\"metric\":\"{metric}\",\"ops_s\":{:.1},\"reqs_s\":{:.1},\"n\":{n},\"runs\":{runs}",
        r.rate, r.reqs_s
    );
    if !r.lat.is_empty() {
        line.push_str(&format!(
            ",\"p50_us\":{:.1},\"p99_us\":{:.1}",
            quantile_us(&r.lat, 0.5),
            quantile_us(&r.lat, 0.99)
        ));
    }
    line.push('}');
    println!("{line}");
}

/// The command line.
struct Args {
    path: String,
    label: String,
    base: String,
    rt: usize,
    fill: usize,
    per_dir: usize,
    dir_reads: usize,
    runs: usize,
}

/// Parses the command line; `None` on a usage error.
fn parse_args() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        path: it.next()?,
        label: "run".into(),
        base: "data/bench".into(),
        rt: 1000,
        fill: 500,
        per_dir: 200,
        dir_reads: 200,
        runs: 3,
    };
    while let Some(opt) = it.next() {
        let val = it.next()?;
        let num = || val.parse::<usize>().ok().filter(|&n| n > 0);
        match opt.as_str() {
            "--label" => a.label = val,
            "--base" => a.base = val,
            "--rt" => a.rt = num()?,
            "--fill" => a.fill = num()?,
            "--per-dir" => a.per_dir = num()?,
            "--dir-reads" => a.dir_reads = num()?,
            "--runs" => a.runs = num()?,
            _ => return None,
        }
    }
    Some(a)
}

/// All four measurements, `a.runs` times each.
fn bench(c: &mut Client, a: &Args) -> Result<(), Failure> {
    c.remove(&a.base)?;
    let runs = |f: &mut dyn FnMut(&mut Client, usize) -> Result<Run, Failure>,
                c: &mut Client|
     -> Result<Run, Failure> {
        let mut v = Vec::with_capacity(a.runs);
        for r in 0..a.runs {
            v.push(f(c, r)?);
        }
        Ok(median(v))
    };
    let rt = runs(&mut |c, _| round_trips(c, &a.base, a.rt), c)?;
    report(&a.label, "rt", a.rt, a.runs, &rt);
    let fl = runs(&mut |c, _| fill(c, &a.base, a.fill, a.per_dir), c)?;
    report(&a.label, "fill", a.fill, a.runs, &fl);
    // The last run's fill stays: its first directory is full (fill >=
    // per_dir) or holds the whole fill.
    let children = a.per_dir.min(a.fill);
    let dir = format!("{}/fill/d0", a.base);
    let dr = runs(&mut |c, _| dir_reads(c, &dir, children, a.dir_reads), c)?;
    report(&a.label, "dir", a.dir_reads, a.runs, &dr);
    // The fill's root, its directories and its nodes.
    let root = format!("{}/fill", a.base);
    let expect = 1 + a.fill.div_ceil(a.per_dir) + a.fill;
    let wk = runs(&mut |c, _| timed_walk(c, &root, expect), c)?;
    report(&a.label, "walk", expect, a.runs, &wk);
    c.remove(&a.base)
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!(
            "usage: xs-rig-bench PATH [--label L] [--rt N] [--fill N] [--per-dir N] \
             [--dir-reads N] [--runs R] [--base REL]"
        );
        return ExitCode::from(1);
    };
    let chan = match Channel::open(&args.path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xs-rig-bench: open {}: {e}", args.path);
            return ExitCode::from(2);
        }
    };
    let mut c = Client::new(chan);
    match bench(&mut c, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Io(e)) => {
            eprintln!("xs-rig-bench: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Reply(why)) => {
            eprintln!("xs-rig-bench: {why}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rate: f64) -> Run {
        Run { rate, reqs_s: rate, lat: Vec::new() }
    }

    #[test]
    fn the_median_run_is_the_middle_rate() {
        let m = median(vec![run(3.0), run(1.0), run(2.0)]);
        assert_eq!(m.rate, 2.0);
        assert_eq!(median(vec![run(5.0)]).rate, 5.0);
    }

    #[test]
    fn quantiles_of_sorted_latencies() {
        let lat: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(quantile_us(&lat, 0.5), 51.0);
        assert_eq!(quantile_us(&lat, 0.99), 100.0);
        assert_eq!(quantile_us(&[], 0.5), 0.0);
    }
}
