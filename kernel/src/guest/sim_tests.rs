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
    let dom0 = engine.connect_socket();
    for (ty, payload) in [
        (11, &b"/local/domain/5/domid\x005"[..]),
        (14, b"/local/domain/5\0n5\0"),
        (14, b"/local/domain/5/domid\0n5\0"),
    ] {
        engine.input(dom0, &request(ty, payload), 0, &mut platform).unwrap();
    }
    let conn = engine.introduce(DomId(5), 1, 9, &mut platform).unwrap();
    let stub = Stub { engine, platform, conn, log: RingLog::default(), now: 0, reconnections: 0 };
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
    drop(client);
    drop(local);
    Outcome { verdicts, reconnections, now }
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
fn the_storm_mode_passes_and_waits_for_the_rate_limit() {
    let o = run(Mode::Storm);
    assert_all_pass(&o.verdicts, 4);
    assert_eq!(o.reconnections, steps::STORM_CYCLES);
    // Beyond the burst, every reconnection waited for a token.
    let beyond = u64::from(steps::STORM_CYCLES - RECONNECT_RATE.burst);
    assert!(o.now >= beyond * RECONNECT_RATE.refill_ms, "done at {} ms", o.now);
}
