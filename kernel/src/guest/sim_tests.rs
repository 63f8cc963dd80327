//! The hostile guest's steps against the real engine and ring turn, on the
//! host: the stub side is played as the kernel's main loop plays it (a turn
//! of `ring::serve` whenever the guest waits, `Engine::tick` once its
//! deadline passed, a turn for each connection `take_ready` reports), on a
//! shared page in ordinary memory, with a clock that advances 10 ms per
//! wait. What passes here is what `kernel/checks/hostile-*.sh` expects on
//! real Xen.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use ring::page::LocalPage;
use ring::serve;
use ring::wire::{Header, XENSTORE_CONNECTED};
use ring::RingPage;
use store::RECONNECT_RATE;
use store::{
    Config, ConnId, DomId, DomainInfo, DomainState, Engine, EngineRing, MapError, MapRequest,
    Platform, RingLog, RingName, RingPlatform,
};

use super::client::{Client, Link};
use super::steps::{self, Mode};

/// The stub's view of the guest's page.
struct Page {
    page: RingPage,
    conn: Option<ConnId>,
}

impl Platform for Page {
    fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
        self.conn = Some(ring.conn);
        if ring.reset {
            // As the kernel's platform does for a re-introduction.
            self.page.reset_indices();
        }
        self.page.set_server_features(ring.features);
        self.page.set_connection(XENSTORE_CONNECTED);
        Ok(())
    }
    fn unmap_ring(&mut self, _conn: ConnId) {
        self.conn = None;
    }
    fn domain_info(&mut self, _domid: DomId) -> DomainInfo {
        DomainInfo::of_state(DomainState::Running)
    }
}

impl RingPlatform for Page {
    fn ring_page(&self, conn: ConnId) -> Option<&RingPage> {
        (self.conn == Some(conn)).then_some(&self.page)
    }
}

/// The stub, run whenever the guest waits.
struct Stub {
    engine: Engine,
    platform: Page,
    conn: ConnId,
    log: RingLog,
    now: u64,
    reconnections: u32,
    /// Dom0's connection, and whether it introduces guest 5 again once
    /// the guest wrote `data/reintro` (the `reintro` mode's dom0 side).
    dom0: ConnId,
    reintroduce: bool,
    /// Introductions of guest 5 after the first.
    reintroductions: u32,
}

impl Stub {
    fn turn(&mut self, conn: ConnId) {
        let turn = serve::serve(&mut EngineRing {
            engine: &mut self.engine,
            platform: &mut self.platform,
            conn,
            now_ms: self.now,
        });
        self.reconnections += u32::from(turn.reconnected);
        self.log.turn(self.now, RingName { domid: Some(5), conn }, &turn);
    }

    /// Dom0 sends one request; returns all its output since the last
    /// call, which ends with the reply.
    fn dom0(&mut self, ty: u32, payload: &[u8]) -> Vec<u8> {
        self.engine.input(self.dom0, &request(ty, payload), self.now, &mut self.platform).unwrap();
        let mut out = Vec::new();
        loop {
            let o = self.engine.output(self.dom0);
            if o.is_empty() {
                return out;
            }
            out.extend_from_slice(o);
            let n = o.len();
            self.engine.output_done(self.dom0, n);
        }
    }

    /// The `reintro` mode's dom0: once the guest wrote `data/reintro`,
    /// `XS_INTRODUCE` of guest 5 with its ring and port again.
    fn maybe_reintroduce(&mut self) {
        if !self.reintroduce || self.reintroductions > 0 {
            return;
        }
        if self.dom0(2, b"/local/domain/5/data/reintro\0").ends_with(b"ready") {
            let reply = self.dom0(8, b"5\x001\x009\0");
            assert!(reply.ends_with(b"OK\0"), "{reply:?}");
            self.reintroductions += 1;
        }
    }
}

impl Link for Stub {
    fn notify(&mut self) {}

    fn now_ms(&self) -> u64 {
        self.now
    }

    fn wait(&mut self, _deadline_ms: u64) {
        self.now += 10;
        if self.engine.next_deadline().is_some_and(|d| d <= self.now) {
            self.engine.tick(self.now);
        }
        let mut ready = Vec::new();
        self.engine.take_ready(&mut ready);
        for c in ready {
            self.turn(c);
        }
        self.turn(self.conn);
        self.maybe_reintroduce();
    }
}

fn request(ty: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Header { ty, req_id: 1, tx_id: 0, len: payload.len() as u32 }.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// What a run gave.
struct Outcome {
    /// Each step's name and verdict.
    verdicts: Vec<(String, Result<(), String>)>,
    /// Reconnections the stub honoured.
    reconnections: u32,
    /// The simulated time at the end, in ms.
    now: u64,
    /// Introductions of the guest after the first.
    reintroductions: u32,
}

/// Runs `mode` as guest 5 with a home it owns.
fn run(mode: Mode) -> Outcome {
    let mut local = Box::new(LocalPage::default());
    let base = NonNull::from(&mut *local).cast::<u8>();
    // SAFETY: `local` outlives both handles (they are dropped at the end of
    // this function, before it) and nothing else touches it; the two sides
    // take turns in this one thread.
    let (guest, server) = unsafe { (RingPage::new(base), RingPage::new(base)) };
    let mut engine = Engine::new(Config::default());
    let mut platform = Page { page: server, conn: None };
    let dom0 = engine.connect_socket().unwrap();
    for (ty, payload) in [
        (11, &b"/local/domain/5/domid\x005"[..]),
        (14, b"/local/domain/5\0n5\0"),
        (14, b"/local/domain/5/domid\0n5\0"),
    ] {
        engine.input(dom0, &request(ty, payload), 0, &mut platform).unwrap();
    }
    let conn = engine.introduce(DomId(5), 1, 9, &mut platform).unwrap();
    let stub = Stub {
        engine,
        platform,
        conn,
        log: RingLog::default(),
        now: 0,
        reconnections: 0,
        dom0,
        reintroduce: mode == Mode::Reintroduce,
        reintroductions: 0,
    };
    let mut client = Client::new(guest, stub);
    let mut verdicts = Vec::new();
    steps::run(
        &mut client,
        5,
        mode,
        &mut |name, v| verdicts.push((String::from(name), v.clone())),
        &mut |_| {},
    );
    let (reconnections, now) = (client.link().reconnections, client.link().now);
    let reintroductions = client.link().reintroductions;
    drop(client);
    drop(local);
    Outcome { verdicts, reconnections, now, reintroductions }
}

fn assert_all_pass(verdicts: &[(String, Result<(), String>)], steps: usize) {
    let failed: Vec<_> = verdicts.iter().filter(|(_, v)| v.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(verdicts.len(), steps, "{verdicts:?}");
}

#[test]
fn the_end_of_service_modes_pass() {
    for mode in [Mode::BadIndex, Mode::Oversize] {
        let o = run(mode);
        assert_all_pass(&o.verdicts, 9);
        assert_eq!(o.reconnections, 1);
    }
}

#[test]
fn the_reconnection_modes_pass() {
    for mode in [Mode::ReconnectIndex, Mode::ReconnectOversize] {
        let o = run(mode);
        assert_all_pass(&o.verdicts, 8);
        assert_eq!(o.reconnections, 1);
    }
}

#[test]
fn the_reintroduction_mode_passes() {
    let o = run(Mode::Reintroduce);
    assert_all_pass(&o.verdicts, 6);
    assert_eq!((o.reintroductions, o.reconnections), (1, 0));
}

#[test]
fn the_storm_mode_passes_and_waits_for_the_rate_limit() {
    let o = run(Mode::Storm);
    assert_all_pass(&o.verdicts, 4);
    assert_eq!(o.reconnections, steps::STORM_CYCLES);
    // Beyond the burst, every reconnection waited for a token.
    let beyond = u64::from(steps::STORM_CYCLES - RECONNECT_RATE.burst);
    assert!(o.now >= beyond * RECONNECT_RATE.refill_ms, "done at {} ms", o.now);
}

/// The memory modes ([`super::memory`]) against the real engine with a
/// budget the size of the stub's heap, several guests on one engine as
/// `kernel/checks/hostile-memory.sh` runs them on Xen: the attacker
/// (`memory`), the flooded watcher (`flood`) while dom0 writes under its
/// home, then the well-behaved guest (`good`) while both hold what they
/// took; dom0 is served throughout, and destroying the guests gives the
/// heap back.
mod memory_modes {
    use alloc::collections::BTreeSet;
    use alloc::format;
    use alloc::rc::Rc;
    use core::cell::RefCell;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use store::MemoryBudget;
    use store::REQUEST_HEADROOM;

    use super::*;

    /// The stub's heap at `init-xenstore-domain --memory 4` (bytes), as
    /// `store/tests/heap_cap.rs` has it.
    const STUB_HEAP: usize = 2_804 * 1024;

    std::thread_local! {
        /// Live heap bytes allocated by this thread (each simulation runs
        /// in one test thread, so other tests do not disturb its meter).
        static LIVE: Cell<usize> = const { Cell::new(0) };
        /// `LIVE` when the simulation started.
        static BASE: Cell<usize> = const { Cell::new(0) };
    }

    /// Counts every thread's live bytes, then forwards to `System`.
    struct Counting;

    fn count(add: usize, sub: usize) {
        let _ = LIVE.try_with(|l| l.set(l.get().wrapping_add(add).wrapping_sub(sub)));
    }

    // SAFETY: every call is forwarded to `System` with the caller's
    // layout; the thread-local counter (const-initialised, no destructor,
    // so no allocation) only observes.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count(layout.size(), 0);
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count(layout.size(), 0);
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count(0, layout.size());
            // SAFETY: `ptr` came from `System` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count(new_size, layout.size());
            // SAFETY: forwarded with the caller's layout and size.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// The budget's meter: this thread's live bytes since the simulation
    /// started (the stub's meter is its whole heap in use).
    fn meter() -> usize {
        let live = LIVE.try_with(Cell::get).unwrap_or(0);
        live.wrapping_sub(BASE.try_with(Cell::get).unwrap_or(0))
    }

    /// The guests' ring pages, found by the gfn `introduce` is given.
    struct Rings {
        pages: Vec<(RingPage, Option<ConnId>)>,
        gone: BTreeSet<u16>,
    }

    impl Platform for Rings {
        fn map_ring(&mut self, ring: MapRequest) -> Result<(), MapError> {
            let i = usize::try_from(ring.gfn).unwrap();
            let (page, conn) = self.pages.get_mut(i).ok_or(MapError)?;
            *conn = Some(ring.conn);
            page.set_server_features(
                ring.features | ring::wire::XENSTORE_SERVER_FEATURE_RECONNECTION,
            );
            page.set_connection(XENSTORE_CONNECTED);
            Ok(())
        }
        fn unmap_ring(&mut self, conn: ConnId) {
            for (_, c) in &mut self.pages {
                if *c == Some(conn) {
                    *c = None;
                }
            }
        }
        fn domain_info(&mut self, domid: DomId) -> DomainInfo {
            if self.gone.contains(&domid.0) {
                DomainInfo::GONE
            } else {
                DomainInfo::of_state(DomainState::Running)
            }
        }
    }

    impl RingPlatform for Rings {
        fn ring_page(&self, conn: ConnId) -> Option<&RingPage> {
            self.pages.iter().find(|(_, c)| *c == Some(conn)).map(|(p, _)| p)
        }
    }

    /// The stub with several guests, as its main loop runs them: every
    /// wait of any guest is one round over all rings.
    struct Host {
        engine: Engine,
        rings: Rings,
        dom0: ConnId,
        log: RingLog,
        now: u64,
        /// dom0 writes `data/stop` into this domain's home at this time.
        stop: Option<(u64, u16)>,
    }

    impl Host {
        fn round(&mut self) {
            self.now += 10;
            if let Some((at, domid)) = self.stop {
                if self.now >= at {
                    self.stop = None;
                    let (ty, _) =
                        self.dom0(11, format!("/local/domain/{domid}/data/stop\x001").as_bytes());
                    assert_eq!(ty, 11);
                }
            }
            if self.engine.next_deadline().is_some_and(|d| d <= self.now) {
                self.engine.tick(self.now);
            }
            let mut conns = Vec::new();
            self.engine.take_ready(&mut conns);
            conns.extend(self.rings.pages.iter().filter_map(|(_, c)| *c));
            for conn in conns {
                if self.rings.ring_page(conn).is_none() {
                    continue;
                }
                let turn = serve::serve(&mut EngineRing {
                    engine: &mut self.engine,
                    platform: &mut self.rings,
                    conn,
                    now_ms: self.now,
                });
                self.log.turn(self.now, RingName { domid: None, conn }, &turn);
            }
        }

        /// One request of dom0's; returns the reply's type and payload.
        fn dom0(&mut self, ty: u32, payload: &[u8]) -> (u32, Vec<u8>) {
            let now = self.now;
            let n =
                self.engine.input(self.dom0, &request(ty, payload), now, &mut self.rings).unwrap();
            assert_eq!(n, payload.len() + 16);
            let out = self.engine.output(self.dom0).to_vec();
            let head: [u8; 16] = out[..16].try_into().unwrap();
            let h = Header::from_bytes(&head);
            let end = 16 + h.len as usize;
            self.engine.output_done(self.dom0, end);
            assert!(self.engine.output(self.dom0).is_empty(), "one reply at a time");
            (h.ty, out[16..end].to_vec())
        }

        /// `memory` of `domid`'s line in the memory report.
        fn charged(&self, domid: u16) -> usize {
            let report = self.engine.memreport();
            let prefix = format!("domain {domid}: ");
            let line = report.lines().find(|l| l.starts_with(&prefix)).unwrap_or("");
            line.rsplit(' ').next().and_then(|m| m.parse().ok()).unwrap_or(0)
        }
    }

    /// A guest's link: its waits run the shared host.
    struct Shared(Rc<RefCell<Host>>);

    impl Link for Shared {
        fn notify(&mut self) {}
        fn now_ms(&self) -> u64 {
            self.0.borrow().now
        }
        fn wait(&mut self, _deadline_ms: u64) {
            self.0.borrow_mut().round();
        }
    }

    /// Each step's name and verdict.
    type Verdicts = Vec<(String, Result<(), String>)>;

    /// Runs `mode` as `domid` on `page`; returns its verdicts and notes.
    fn guest(
        host: &Rc<RefCell<Host>>,
        page: RingPage,
        domid: u16,
        mode: Mode,
    ) -> (Verdicts, Vec<String>) {
        let mut c = Client::new(page, Shared(Rc::clone(host)));
        let (mut verdicts, mut notes) = (Vec::new(), Vec::new());
        steps::run(
            &mut c,
            domid,
            mode,
            &mut |name, v| verdicts.push((String::from(name), v.clone())),
            &mut |text| notes.push(String::from(text)),
        );
        std::println!("guest {domid} {mode:?}: {verdicts:?}\n  {notes:?}");
        (verdicts, notes)
    }

    fn kib(n: usize) -> String {
        format!("{} KiB", n / 1024)
    }

    /// The host with guests `domids` introduced (homes as the toolstack
    /// makes them), and their ring pages.
    struct World {
        /// Dropped first: it holds the server's handles to `locals`.
        host: Rc<RefCell<Host>>,
        /// The pages, each shared by the host and one guest.
        locals: Vec<Box<LocalPage>>,
        /// The meter after dom0 made `/local/domain`, before any guest.
        baseline: usize,
    }

    impl World {
        fn new(domids: &[u16]) -> World {
            BASE.with(|b| b.set(LIVE.with(Cell::get)));
            let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
            let mut engine = Engine::new(Config { budget: Some(budget), ..Config::default() });
            let dom0 = engine.connect_socket().expect("an empty heap admits a socket");
            let rings = Rings { pages: Vec::new(), gone: BTreeSet::new() };
            let host = Rc::new(RefCell::new(Host {
                engine,
                rings,
                dom0,
                log: RingLog::default(),
                now: 0,
                stop: None,
            }));
            let mut w = World { host, locals: Vec::new(), baseline: 0 };
            assert_eq!(w.host.borrow_mut().dom0(11, b"/local/domain\0").0, 11);
            w.baseline = meter();
            for (i, &d) in domids.iter().enumerate() {
                w.locals.push(Box::default());
                let page = w.page(i);
                let mut h = w.host.borrow_mut();
                h.rings.pages.push((page, None));
                // As libxl makes them: the home and `domid` are dom0's,
                // readable by the guest; `data` is the guest's.
                for (ty, payload) in [
                    (11, format!("/local/domain/{d}/domid\0{d}")),
                    (14, format!("/local/domain/{d}\0n0\0r{d}\0")),
                    (14, format!("/local/domain/{d}/domid\0n0\0r{d}\0")),
                    (11, format!("/local/domain/{d}/data\0")),
                    (14, format!("/local/domain/{d}/data\0n{d}\0")),
                ] {
                    assert_eq!(h.dom0(ty, payload.as_bytes()).0, ty);
                }
                let h = &mut *h;
                h.engine.introduce(DomId(d), i as u64, 9, &mut h.rings).unwrap();
            }
            w
        }

        /// A handle to page `i`.
        fn page(&mut self, i: usize) -> RingPage {
            let base = NonNull::from(&mut *self.locals[i]).cast::<u8>();
            // SAFETY: the `LocalPage` is boxed (it never moves) and outlives
            // every handle: the host's go with `host`, dropped before
            // `locals`, and a guest's with its client, inside the test.
            // Nothing else touches it; both sides take turns in this one
            // thread.
            unsafe { RingPage::new(base) }
        }

        /// The guests die; the toolstack removes their homes. Returns the
        /// meter before and after.
        fn destroy(&self, domids: &[u16]) -> (usize, usize) {
            let before = meter();
            let mut h = self.host.borrow_mut();
            let h = &mut *h;
            h.rings.gone.extend(domids.iter().copied());
            let now = h.now;
            h.engine.check_domains(now, &mut h.rings);
            for &d in domids {
                assert_eq!(h.dom0(13, format!("/local/domain/{d}\0").as_bytes()).0, 13);
                assert!(!h.engine.memreport().contains(&format!("domain {d}:")));
            }
            (before, meter())
        }
    }

    #[test]
    fn attackers_are_held_to_their_share_and_give_the_heap_back() {
        let mut w = World::new(&[5, 6, 7]);
        let host = Rc::clone(&w.host);
        let budget = host.borrow().engine.config().budget.unwrap();
        let share = budget.domain_share();

        // The attacker: every attack refused or flow-controlled.
        let (verdicts, notes) = guest(&host, w.page(0), 5, Mode::Memory);
        assert_all_pass(&verdicts, 6);
        assert!(notes.iter().any(|n| n.contains("refused (ENOMEM)")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("then refused (ENOMEM)")), "{notes:?}");
        let held = host.borrow().charged(5);
        std::println!("attacker holds {held} charged bytes, share {share}, heap {}", kib(meter()));
        assert!(held <= share + 4096, "{held} > {share}");

        // The flood: dom0 writes under the unread watcher's home.
        let (verdicts, _) = guest(&host, w.page(1), 6, Mode::Flood);
        assert_all_pass(&verdicts, 3);
        {
            let mut h = host.borrow_mut();
            let dropped = h.engine.stats().events_dropped;
            for i in 0..300 {
                let (ty, _) = h.dom0(11, format!("/local/domain/6/data/flood/{i}\0x").as_bytes());
                assert_eq!(ty, 11, "dom0 write {i}");
                h.round();
            }
            let held = h.charged(6);
            let dropped = h.engine.stats().events_dropped - dropped;
            std::println!(
                "flood: {dropped} events dropped, {held} bytes held, heap {}",
                kib(meter())
            );
            assert!(dropped > 0);
            // Events stop at the share; dom0's 300 nodes inherit the
            // home's owner and are charged to the guest on top (a
            // privileged write is never refused for the owner's quota,
            // as in C), about 55 bytes each.
            assert!(held <= share + 300 * 64, "{held} > {share}");
        }
        assert!(meter() <= budget.limit_for(false) + REQUEST_HEADROOM);

        // The good guest, beside them, until dom0 says stop.
        let now = host.borrow().now;
        host.borrow_mut().stop = Some((now + 5_000, 7));
        let (verdicts, notes) = guest(&host, w.page(2), 7, Mode::Good);
        assert_all_pass(&verdicts, 3);
        assert!(notes.iter().any(|n| n == "good: running"), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains(", 0 failed")), "{notes:?}");

        // dom0 is served, big values included.
        {
            let mut h = host.borrow_mut();
            let big = format!("/tool/big\0{}", "x".repeat(4000));
            assert_eq!(h.dom0(11, big.as_bytes()).0, 11);
            assert_eq!(h.dom0(2, b"/tool/big\0").1.len(), 4000);
            assert_eq!(h.dom0(13, b"/tool\0").0, 13);
        }
        drop(host);
        let (peak, after) = w.destroy(&[5, 6, 7]);
        let baseline = w.baseline;
        std::println!(
            "heap: baseline {}, with the attackers {}, after {}",
            kib(baseline),
            kib(peak),
            kib(after)
        );
        assert!(after <= baseline + 32 * 1024, "baseline {baseline}, after {after}");
    }

    #[test]
    fn a_998_deep_chain_is_refused_and_a_shorter_one_served() {
        let mut w = World::new(&[5]);
        let host = Rc::clone(&w.host);
        let share = host.borrow().engine.config().budget.unwrap().domain_share();
        let (verdicts, notes) = guest(&host, w.page(0), 5, Mode::DeepRm);
        assert_all_pass(&verdicts, 3);
        // The chain's paths are charged about 1 MB, four times the share:
        // refused, and the writer is served on with a chain that fits.
        assert!(notes.iter().any(|n| n.contains("ENOMEM), down to")), "{notes:?}");
        let held = host.borrow().charged(5);
        std::println!("deep-rm: {notes:?}, {held} bytes charged, heap {}", kib(meter()));
        assert!(held <= share, "{held} > {share}");
        assert!(meter() < 256 * 1024, "the chain's real bytes: {}", meter());
        // dom0 is served; destroying the writer removes its chain.
        assert_eq!(host.borrow_mut().dom0(11, b"/tool/x\0y").0, 11);
        drop(host);
        let (peak, after) = w.destroy(&[5]);
        std::println!(
            "heap: baseline {}, with the chain {}, after {}",
            kib(w.baseline),
            kib(peak),
            kib(after)
        );
        assert!(after <= w.baseline + 32 * 1024, "baseline {}, after {after}", w.baseline);
    }
}
