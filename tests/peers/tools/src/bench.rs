//! xs-bench: a raw-socket xenstore benchmark client. One connection, one
//! request in flight, every reply checked.
//!
//! ```text
//! xs-bench SOCKET rt N     N sequential pairs (WRITE /bench/rt <i>; READ
//!                          /bench/rt): ops/s and per-request latency
//! xs-bench SOCKET fill N   N WRITEs of new nodes /fill/d<i/1000>/n<i> with
//!                          16-byte values: writes/s
//! ```
//!
//! It prints one line, which `bench/bench.py` parses:
//!
//! ```text
//! rt: N write+read pairs in S s = P pairs/s = O ops/s; per-op latency p50 X us p99 Y us max Z us
//! fill: N nodes in S s = W writes/s
//! ```
//!
//! Exit status: 1 for usage errors, 2 when the connection fails, 3 for a
//! wrong reply.

use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xs_peer_tools::{Failure, XS_ERROR, XS_READ, XS_WRITE};

/// A client on a daemon's socket.
type Client = xs_peer_tools::Client<UnixStream>;

/// Sequential WRITE+READ pairs on one node.
fn round_trips(c: &mut Client, pairs: usize) -> Result<(), Failure> {
    const PATH: &[u8] = b"/bench/rt\0";
    let mut latencies = Vec::with_capacity(2 * pairs);
    let start = Instant::now();
    for i in 0..pairs {
        let value = i.to_string();
        let t = Instant::now();
        let ty = c.request(XS_WRITE, &[PATH, value.as_bytes()])?;
        latencies.push(t.elapsed());
        if ty != XS_WRITE {
            return Err(Failure::Reply(format!("write answered {ty}: {}", c.reply_text())));
        }
        let t = Instant::now();
        let ty = c.request(XS_READ, &[PATH])?;
        latencies.push(t.elapsed());
        if ty != XS_READ || c.reply != value.as_bytes() {
            return Err(Failure::Reply(format!("read {i} answered {ty}: {}", c.reply_text())));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| {
        let i = ((latencies.len() as f64) * q) as usize;
        us(latencies[i.min(latencies.len() - 1)])
    };
    println!(
        "rt: {pairs} write+read pairs in {secs:.3} s = {:.0} pairs/s = {:.0} ops/s; \
         per-op latency p50 {:.1} us p99 {:.1} us max {:.1} us",
        pairs as f64 / secs,
        2.0 * pairs as f64 / secs,
        at(0.5),
        at(0.99),
        us(latencies[latencies.len() - 1]),
    );
    Ok(())
}

/// Sequential WRITEs of new nodes, a thousand per directory.
fn fill(c: &mut Client, nodes: usize) -> Result<(), Failure> {
    const VALUE: &[u8] = b"0123456789abcdef";
    let start = Instant::now();
    for i in 0..nodes {
        let path = format!("/fill/d{}/n{i}\0", i / 1000);
        let ty = c.request(XS_WRITE, &[path.as_bytes(), VALUE])?;
        if ty != XS_WRITE {
            let what = if ty == XS_ERROR { "error" } else { "unexpected reply" };
            return Err(Failure::Reply(format!("write {i}: {what} {}", c.reply_text())));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("fill: {nodes} nodes in {secs:.3} s = {:.0} writes/s", nodes as f64 / secs);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let count = args.get(3).and_then(|n| n.parse::<usize>().ok()).filter(|&n| n > 0);
    let (Some(socket), Some(mode), Some(count)) = (args.get(1), args.get(2), count) else {
        eprintln!("usage: xs-bench SOCKET rt|fill N");
        return ExitCode::from(1);
    };
    let stream = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xs-bench: connect {socket}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut c = Client::new(stream);
    let result = match mode.as_str() {
        "rt" => round_trips(&mut c, count),
        "fill" => fill(&mut c, count),
        _ => {
            eprintln!("usage: xs-bench SOCKET rt|fill N");
            return ExitCode::from(1);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Io(e)) => {
            eprintln!("xs-bench: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Reply(why)) => {
            eprintln!("xs-bench: {why}");
            ExitCode::from(3)
        }
    }
}
