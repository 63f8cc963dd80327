//! xs-scale: a thousand simring guests created the way libxl creates
//! them, concurrently, then the costs a big store shows.
//!
//! ```text
//! xs-scale SOCKET SIMRING_DIR build N [TOOLSTACKS [GUESTS [SCAN]]]
//!     N domains (domids 1..=N), each made by one of TOOLSTACKS dom0
//!     clients (libxl's transactions, `libxl.rs`), introduced with a
//!     simring ring, given a vif and a vbd, then connected by its guest
//!     over its ring while one of GUESTS dom0 clients plays the backend
//!     (`frontend.rs`); every thread runs at once. SCAN 1 adds libxl's
//!     name-uniqueness check (a READ of every earlier domain's name per
//!     attempt at making a domain: O(N^2) reads, which then dominate)
//! xs-scale SOCKET SIMRING_DIR probe N [WIDE [RELEASES]]
//!     on the store `build N` left: DIRECTORY_PART passes over
//!     /local/domain, then over a directory of WIDE new children, then
//!     XS_RELEASE of RELEASES domains (from N down), each timed
//! ```
//!
//! One line per measurement, which `bench/scale.py` parses:
//!
//! ```text
//! build: N domains T toolstacks G guests in S s = X domains/s; R requests = Y requests/s; toolstack commits C eagain E; guest commits C eagain E; backend commits C eagain E; events V; errors {...}
//! dirpart: PATH K children B bytes C calls/pass P passes in S s = U us/pass
//! dirpart: PATH ENOSYS                  (a daemon without DIRECTORY_PART)
//! release: K domains median U us min U max U; read median U us
//! ```
//!
//! Exit status: 1 for usage errors, 2 when something failed.

mod client;
mod frontend;
mod guest;
mod libxl;

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use client::{Client, Counts, Socket};
use guest::Guest;
use libxl::{Domain, TxCounts, DEVICES};

/// The event channel port every guest uses (ports are per domain).
const PORT: u32 = 7;

/// What one thread did.
#[derive(Default)]
struct Tally {
    counts: Counts,
    toolstack: TxCounts,
    guest: TxCounts,
    backend: TxCounts,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.counts.add(&o.counts);
        self.toolstack.add(o.toolstack);
        self.guest.add(o.guest);
        self.backend.add(o.backend);
    }
}

/// Toolstack `k` of `n`: makes domains `k+1, k+1+n, …` up to `total` and
/// hands each, with its ring, to the guests.
fn toolstack(
    socket: &str,
    dir: &Path,
    (k, n, total, scan): (u32, u32, u32, bool),
    ready: std::sync::mpsc::Sender<(Domain, Guest)>,
) -> io::Result<Tally> {
    let mut c = Client::new(Socket::connect(socket)?);
    let mut t = Tally::default();
    for id in (k + 1..=total).step_by(n as usize) {
        let d = Domain::new(id);
        let g = Guest::create(dir, id, PORT)?;
        let earlier = if scan { 1..id } else { 1..1 };
        libxl::domain_make(&mut c, &d, earlier, &mut t.toolstack)?;
        libxl::build_post(&mut c, &d, PORT, &mut t.toolstack)?;
        for dev in &DEVICES {
            libxl::device_add(&mut c, &d, dev, &mut t.toolstack)?;
        }
        for dev in &DEVICES {
            libxl::backend_probe(&mut c, &d, dev, &mut t.toolstack)?;
        }
        if ready.send((d, g)).is_err() {
            return Err(io::Error::other("the guests stopped"));
        }
    }
    t.counts = c.counts;
    Ok(t)
}

/// A guest worker: connects the devices of each domain it is handed.
fn guests(socket: &str, queue: &Mutex<Receiver<(Domain, Guest)>>) -> io::Result<Tally> {
    let mut dom0 = Client::new(Socket::connect(socket)?);
    let mut t = Tally::default();
    loop {
        let next = queue.lock().map_err(|_| io::Error::other("poisoned"))?.recv();
        let Ok((d, g)) = next else { break };
        let mut g = Client::new(g);
        frontend::connect(&mut g, &mut dom0, &d, &DEVICES, &mut t.guest, &mut t.backend)?;
        t.counts.add(&g.counts);
    }
    t.counts.add(&dom0.counts);
    Ok(t)
}

/// `build`: every toolstack and guest thread at once.
fn build(
    socket: &str,
    dir: &Path,
    total: u32,
    (tools, workers, scan): (u32, u32, bool),
) -> io::Result<()> {
    let (tx, rx) = channel();
    let rx = Arc::new(Mutex::new(rx));
    let start = Instant::now();
    let mut handles = Vec::new();
    for k in 0..tools {
        let (s, d, tx) = (socket.to_owned(), dir.to_path_buf(), tx.clone());
        handles.push(thread::spawn(move || toolstack(&s, &d, (k, tools, total, scan), tx)));
    }
    drop(tx);
    for _ in 0..workers {
        let (s, rx) = (socket.to_owned(), Arc::clone(&rx));
        handles.push(thread::spawn(move || guests(&s, &rx)));
    }
    let mut all = Tally::default();
    for h in handles {
        let t = h.join().map_err(|_| io::Error::other("a thread panicked"))??;
        all.add(&t);
    }
    let secs = start.elapsed().as_secs_f64();
    let c = &all.counts;
    println!(
        "build: {total} domains {tools} toolstacks {workers} guests in {secs:.3} s = {:.1} domains/s; \
         {} requests = {:.0} requests/s; toolstack commits {} eagain {}; guest commits {} eagain {}; \
         backend commits {} eagain {}; events {}; errors {:?}",
        f64::from(total) / secs,
        c.requests,
        c.requests as f64 / secs,
        all.toolstack.committed,
        all.toolstack.eagain,
        all.guest.committed,
        all.guest.eagain,
        all.backend.committed,
        all.backend.eagain,
        c.events,
        c.errors,
    );
    Ok(())
}

/// One DIRECTORY_PART pass over `path`: (children, bytes, calls).
fn dirpart_pass(c: &mut Client<Socket>, path: &str) -> io::Result<(usize, usize, usize)> {
    let (mut off, mut calls, mut gen) = (0usize, 0usize, None::<Vec<u8>>);
    let mut children = 0;
    loop {
        let r = c.directory_part(path, off)?;
        calls += 1;
        if let Some(e) = r.err() {
            return Err(io::Error::other(format!("DIRECTORY_PART {path} {off}: {e}")));
        }
        let nul = r.payload.iter().position(|&b| b == 0).unwrap_or(r.payload.len());
        let g = r.payload[..nul].to_vec();
        if gen.as_ref().is_some_and(|old| *old != g) {
            return Err(io::Error::other(format!("{path} changed during a pass")));
        }
        gen = Some(g);
        let list = r.payload.get(nul + 1..).unwrap_or(&[]);
        children += list.iter().filter(|&&b| b == 0).count();
        off += list.len();
        if list.is_empty() || list == b"\0" || list.ends_with(b"\0\0") {
            // The closing empty string is not a child.
            return Ok((children.saturating_sub(1), off.saturating_sub(1), calls));
        }
    }
}

/// Timed passes over `path` (at least `min` and half a second).
fn dirpart(c: &mut Client<Socket>, path: &str, min: usize) -> io::Result<()> {
    if c.directory_part(path, 0)?.err().as_deref() == Some("ENOSYS") {
        println!("dirpart: {path} ENOSYS");
        return Ok(());
    }
    let start = Instant::now();
    let (mut passes, mut last) = (0usize, (0, 0, 0));
    while passes < min || start.elapsed().as_secs_f64() < 0.5 {
        last = dirpart_pass(c, path)?;
        passes += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let (children, bytes, calls) = last;
    println!(
        "dirpart: {path} {children} children {bytes} bytes {calls} calls/pass {passes} passes in \
         {secs:.3} s = {:.1} us/pass",
        secs * 1e6 / passes as f64
    );
    Ok(())
}

/// The median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `probe`: DIRECTORY_PART passes, then timed releases.
fn probe(socket: &str, total: u32, wide: usize, releases: u32) -> io::Result<()> {
    let mut c = Client::new(Socket::connect(socket)?);
    dirpart(&mut c, "/local/domain", 50)?;
    if wide > 0 {
        for i in 0..wide {
            c.write(0, &format!("/wide/child-{i}"), "")?;
        }
        dirpart(&mut c, "/wide", 5)?;
        c.rm(0, "/wide")?;
    }
    let mut reads = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        c.read(0, "/local/domain/1/name")?;
        reads.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut times = Vec::new();
    for id in (1..=total).rev().take(releases as usize) {
        let t = Instant::now();
        let r = c.release(id)?;
        times.push(t.elapsed().as_secs_f64() * 1e6);
        if let Some(e) = r.err() {
            return Err(io::Error::other(format!("release {id}: {e}")));
        }
    }
    let (min, max) =
        (times.iter().copied().fold(f64::MAX, f64::min), times.iter().copied().fold(0.0, f64::max));
    println!(
        "release: {} domains median {:.1} us min {min:.1} max {max:.1}; read median {:.1} us",
        times.len(),
        median(&mut times),
        median(&mut reads)
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize, default: u32| -> Option<u32> {
        args.get(i).map_or(Some(default), |s| s.parse().ok())
    };
    let usage = || {
        eprintln!(
            "usage: xs-scale SOCKET SIMRING_DIR build N [TOOLSTACKS [GUESTS [SCAN]]]\n       \
             xs-scale SOCKET SIMRING_DIR probe N [WIDE [RELEASES]]"
        );
        ExitCode::from(1)
    };
    let (Some(socket), Some(dir), Some(mode), Some(Some(n))) =
        (args.get(1), args.get(2), args.get(3), args.get(4).map(|s| s.parse::<u32>().ok()))
    else {
        return usage();
    };
    let dir = PathBuf::from(dir);
    let result = match mode.as_str() {
        "build" => match (num(5, 4), num(6, 8), num(7, 0)) {
            (Some(t), Some(g), Some(scan)) if t > 0 && g > 0 => {
                build(socket, &dir, n, (t, g, scan != 0))
            }
            _ => return usage(),
        },
        "probe" => match (num(5, 0), num(6, 20)) {
            (Some(w), Some(r)) => probe(socket, n, w as usize, r),
            _ => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xs-scale: {e}");
            ExitCode::from(2)
        }
    }
}
