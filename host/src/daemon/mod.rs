//! The poll loop: socket clients and simring guests served by one engine.
//!
//! Primer. Everything is non-blocking and single-threaded. Sockets are
//! registered edge-triggered with `mio`, so each source remembers whether it
//! may still have work ("readable"/"writable" until `WouldBlock`). A loop
//! round:
//! 1. polls (timeout 0 when some source still has work, else until the
//!    engine's next deadline) and records readiness; while some source
//!    still has work, up to [`ROUNDS_PER_POLL`] rounds skip this step;
//! 2. every [`SWEEP_INTERVAL_MS`](ring::sched::SWEEP_INTERVAL_MS), as the
//!    stub does, queues every ring with work no event announced; accepts
//!    clients, drains the event channel (routing `notify` to rings,
//!    `virq 3` to [`Engine::check_domains`]);
//! 3. serves each socket client, then each queued ring (in the order of
//!    the [`ring::sched::Scheduler`] the stub uses too), at most a bounded
//!    number of bytes each (fairness), only while the engine
//!    [`wants_input`](Engine::wants_input), flushing its output afterwards;
//! 4. calls [`Engine::tick`] once its [deadline](Engine::next_deadline)
//!    has passed (after the turns, as the kernel does), and flushes every
//!    connection [`take_ready`](Engine::take_ready) reports (watch events,
//!    connections that left flow control).
//!
//! SIGTERM and SIGINT arrive through a self-pipe and end the loop.

mod handover;
mod rings;
mod sockets;
mod takeover;

use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::net::{UnixListener, UnixStream};
use mio::{Events, Interest, Poll, Token};
use ring::sched::Scheduler;
use store::LogGate;
use store::{Config, ConnId, DomId, Engine, RingLog};

use crate::clients::Clients;
use crate::options::Options;
use crate::platform::HostPlatform;
use crate::simring::evtchn::{Event, VIRQ_DOM_EXC};
use crate::simring::Simring;

/// Poll token of the listening socket.
const LISTENER: Token = Token(0);
/// Poll token of `evtchn-server`.
const EVTCHN: Token = Token(1);
/// Poll token of the signal self-pipe.
const SIGNALS: Token = Token(2);

/// Readiness events collected per poll.
const POLL_EVENTS: usize = 256;

/// Clients accepted per loop round, so a connect storm cannot starve the
/// connections already served.
const ACCEPTS_PER_ROUND: usize = 64;

/// Event datagrams handled per loop round, for the same reason.
const DATAGRAMS_PER_ROUND: usize = 256;

/// Rounds run back to back without polling while some source still has
/// work (a client that has not reported `WouldBlock` yet, a ring with
/// leftovers, ...). A client that sends its next request as soon as it
/// has the reply is then served with one read and one write per request,
/// no `epoll_wait`; polling at least every so many rounds keeps new
/// clients, events and signals from waiting long.
const ROUNDS_PER_POLL: u32 = 8;

/// How often one round drains [`Engine::take_ready`]: each pass can only
/// make more connections ready by freeing flow control, so this settles in a
/// few passes; anything left is picked up by the next round.
const READY_PASSES: usize = 4;

/// The daemon: engine, platform and every I/O source.
pub struct Daemon {
    /// The xenstore engine.
    engine: Engine,
    /// Rings, event channels and domain state.
    platform: HostPlatform,
    /// The readiness poller.
    poll: Poll,
    /// The listening socket.
    listener: UnixListener,
    /// Its path, removed at shutdown.
    socket_path: PathBuf,
    /// The pid file, removed at shutdown.
    pid_file: Option<PathBuf>,
    /// Where live update's state file goes.
    state_dir: PathBuf,
    /// Connected socket clients.
    clients: Clients,
    /// Read end of the signal self-pipe.
    signals: UnixStream,
    /// Time zero of the engine's millisecond clock.
    epoch: Instant,
    /// Scratch list for [`Engine::take_ready`].
    ready: Vec<ConnId>,
    /// Scratch list of the socket clients served in a round.
    round_tokens: Vec<Token>,
    /// The listener may have connections waiting.
    listener_readable: bool,
    /// `evtchn-server` may have datagrams waiting.
    evtchn_readable: bool,
    /// `VIRQ_DOM_EXC` was raised since the last round.
    check_domains: bool,
    /// `take_ready` may still report connections.
    more_ready: bool,
    /// Rounds run since the last poll.
    rounds_since_poll: u32,
    /// The rings owed a turn and the sweep's schedule.
    sched: Box<Scheduler<ConnId>>,
    /// Scratch list of the rings a sweep looks at.
    sweep_conns: Vec<ConnId>,
    /// The log lines about ring turns.
    ring_log: RingLog,
    /// The log lines about work a sweep found.
    sweep_log: LogGate,
}

impl Daemon {
    /// Binds the socket (and the simring directory), writes the pid file and
    /// introduces dom0's ring when serving simring guests; with `-U`, takes
    /// over from the previous server instead
    /// (`takeover.rs`).
    pub fn new(opts: &Options, config: Config) -> io::Result<Daemon> {
        if opts.live_update {
            return Daemon::take_over(opts, config);
        }
        let listener = bind_socket(&opts.socket)?;
        let simring = match &opts.simring {
            Some(dir) => Some(Simring::open(dir)?),
            None => None,
        };
        let platform = HostPlatform::new(simring);
        let mut daemon = Daemon::assemble(opts, Engine::new(config), platform, listener)?;
        if daemon.platform.simring.is_some() && !opts.no_domain_init {
            daemon.introduce_dom0(opts.dom0_port);
        }
        daemon.started(opts)?;
        Ok(daemon)
    }

    /// The daemon around a ready engine, platform and listening socket:
    /// the poller, the signal pipe, no clients yet.
    pub(crate) fn assemble(
        opts: &Options,
        engine: Engine,
        mut platform: HostPlatform,
        mut listener: UnixListener,
    ) -> io::Result<Daemon> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = signal_pipe()?;
        poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        if let Some(simring) = platform.simring.as_mut() {
            poll.registry().register(simring.channels.source(), EVTCHN, Interest::READABLE)?;
        }
        Ok(Daemon {
            engine,
            platform,
            poll,
            listener,
            socket_path: opts.socket.clone(),
            pid_file: opts.pid_file.clone(),
            state_dir: opts.state_dir.clone(),
            clients: Clients::default(),
            signals,
            epoch: Instant::now(),
            ready: Vec::new(),
            round_tokens: Vec::new(),
            listener_readable: true,
            evtchn_readable: true,
            check_domains: false,
            more_ready: false,
            rounds_since_poll: 0,
            sched: Box::new(Scheduler::new(0)),
            sweep_conns: Vec::new(),
            ring_log: RingLog::default(),
            sweep_log: LogGate::guest(),
        })
    }

    /// Queues the rings mapped so far and writes the pid file (to the
    /// pid file and, with `-P`, standard output): the daemon is ready.
    pub(crate) fn started(&mut self, opts: &Options) -> io::Result<()> {
        self.collect_rings();
        if let Some(path) = &opts.pid_file {
            std::fs::write(path, format!("{}\n", std::process::id()))?;
        }
        if opts.output_pid {
            println!("{}", std::process::id());
        }
        Ok(())
    }

    /// Serves dom0's `ring-0` on `port`, as C xenstored does with
    /// `/proc/xen/xsd_kva` and `xsd_port` at start-up.
    fn introduce_dom0(&mut self, port: u32) {
        if let Err(e) = self.engine.introduce(DomId(0), 0, port, &mut self.platform) {
            log::warn!("cannot serve dom0's ring: {e}");
        }
    }

    /// Runs until SIGTERM or SIGINT, then cleans up.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(POLL_EVENTS);
        log::info!("serving on {}", self.socket_path.display());
        loop {
            let timeout = self.poll_timeout();
            if timeout == Some(Duration::ZERO) && self.rounds_since_poll < ROUNDS_PER_POLL {
                // Some source still has work: serve it again without asking
                // the kernel first.
                self.rounds_since_poll = self.rounds_since_poll.saturating_add(1);
                self.round();
                continue;
            }
            self.rounds_since_poll = 0;
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.listener_readable = true,
                    EVTCHN => self.evtchn_readable = true,
                    SIGNALS => {
                        if self.signal_received() {
                            log::info!("terminating on signal");
                            return Ok(());
                        }
                    }
                    token => self.clients.mark(token, event),
                }
            }
            if self.platform.has_rings() {
                let now = self.now_ms();
                if self.sched.sweep_due(now) {
                    self.sweep_rings(now);
                }
            }
            self.round();
        }
    }

    /// One round of work after a poll.
    fn round(&mut self) {
        let now = self.now_ms();
        if self.listener_readable {
            self.accept_clients();
        }
        if self.evtchn_readable {
            self.receive_events();
        }
        if std::mem::take(&mut self.check_domains) {
            self.engine.check_domains(now, &mut self.platform);
        }
        self.serve_sockets(now);
        // The rings' turns, then the engine's timed work.
        self.serve_rings(now);
        // A started live update that is due hands over here (and returns
        // only if that failed); its answers are flushed with the rest.
        if self.engine.live_update_pending() {
            if let Some(lu) = self.engine.live_update_due(now, &mut self.platform) {
                self.live_update(&lu);
            }
        }
        self.flush_ready();
        self.collect_rings();
    }

    /// How long the next poll may sleep.
    fn poll_timeout(&self) -> Option<Duration> {
        if self.listener_readable
            || self.evtchn_readable
            || self.check_domains
            || self.more_ready
            || !self.sched.is_empty()
            || self.clients.any_active()
        {
            return Some(Duration::ZERO);
        }
        let engine = self.engine.next_deadline();
        let deadline =
            if self.platform.has_rings() { self.sched.deadline(engine) } else { engine? };
        Some(Duration::from_millis(deadline.saturating_sub(self.now_ms())))
    }

    /// Milliseconds since the daemon started (the engine's clock).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Drains the signal self-pipe; true if a signal was delivered.
    fn signal_received(&mut self) -> bool {
        let mut buf = [0u8; 16];
        let mut got = false;
        loop {
            match self.signals.read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return got,
            }
        }
    }

    /// Handles up to [`DATAGRAMS_PER_ROUND`] event-channel datagrams.
    fn receive_events(&mut self) {
        let Some(simring) = &self.platform.simring else {
            self.evtchn_readable = false;
            return;
        };
        for _ in 0..DATAGRAMS_PER_ROUND {
            match simring.channels.recv() {
                Ok(Some(Some(Event::Notify { domid, port }))) => {
                    if let Some(conn) = self.platform.route(domid, port) {
                        self.sched.enqueue(conn);
                    }
                }
                Ok(Some(Some(Event::Virq(VIRQ_DOM_EXC)))) => self.check_domains = true,
                Ok(Some(Some(Event::Virq(n)))) => log::debug!("ignoring virq {n}"),
                Ok(Some(None)) => {}
                Ok(None) => {
                    self.evtchn_readable = false;
                    return;
                }
                Err(e) => {
                    log::warn!("evtchn-server receive failed: {e}");
                    self.evtchn_readable = false;
                    return;
                }
            }
        }
    }

    /// Flushes every connection the engine reports ready.
    fn flush_ready(&mut self) {
        for _ in 0..READY_PASSES {
            self.ready.clear();
            self.engine.take_ready(&mut self.ready);
            if self.ready.is_empty() {
                self.more_ready = false;
                return;
            }
            let ready = std::mem::take(&mut self.ready);
            for conn in &ready {
                if let Some(token) = self.clients.token_of(*conn) {
                    self.socket_ready(token);
                } else if self.platform.ring(*conn).is_some() {
                    self.flush_ring(*conn);
                    self.sched.enqueue(*conn);
                }
            }
            self.ready = ready;
        }
        self.more_ready = true;
    }

    /// Disconnects everyone and removes the socket, pid file and
    /// `evtchn-server`.
    pub fn shutdown(&mut self) {
        for (_, conn) in self.clients.drain() {
            self.engine.disconnect(conn, &mut self.platform);
        }
        remove_quietly(&self.socket_path);
        if let Some(path) = &self.pid_file {
            remove_quietly(path);
        }
        if let Some(simring) = &self.platform.simring {
            simring.close();
        }
    }
}

/// Removes a file we created; a missing one is fine.
fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            log::warn!("cannot remove {}: {e}", path.display());
        }
    }
}

/// Binds the listening socket at `path` (mode 0600, like C), creating its
/// directory and replacing a stale socket file.
fn bind_socket(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A self-pipe that receives a byte on SIGTERM and SIGINT.
fn signal_pipe() -> io::Result<UnixStream> {
    let (rx, tx) = StdStream::pair()?;
    rx.set_nonblocking(true)?;
    tx.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, tx.try_clone()?)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, tx)?;
    Ok(UnixStream::from_std(rx))
}
