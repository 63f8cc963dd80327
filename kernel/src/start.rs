//! The stub's boot sequence: the common bring-up ([`crate::setup`]), then
//! the domctl interface version, the VIRQs, the engine and dom0's
//! connection, then the main loop. The console lines the boot tests grep
//! are printed whatever the log level: `Xen version X.Y`, `domctl interface
//! version 0xNN`, `heap N KiB`, `ready in N ms`. Below `--log-level debug`
//! the boot's lines are held back and written once the main loop is idle
//! ([`crate::console::hold`]); the ready time is counted from the first
//! instruction.

use alloc::string::String;

use store::{Config, Engine, EngineOptions, MemoryBudget};

use crate::abi::xen::{VIRQ_DOM_EXC, VIRQ_TIMER};
use crate::domctl::DomainQuery;
use crate::handover::incoming::Incoming;
use crate::handover::{record, Context};
use crate::main_loop::{Clock, Server, Virqs};
use crate::platform::XenPlatform;
use crate::setup::{bring_up, fatal, Booted};
use crate::{cmdline, console, console_line, cpu, domctl, evtchn, heap, time};

/// The image name the console markers start with.
const NAME: &str = "xenstore-stubdom-rs";

/// A build's mark, printed in the banner when the image was built with
/// `XS_STUB_BUILD=...` (the live-update check tells two builds apart by
/// it).
const BUILD_MARK: Option<&str> = option_env!("XS_STUB_BUILD");

/// Boots the stub and serves xenstore forever.
pub fn start(start_info_paddr: u64, boot_tsc: u64) -> ! {
    // The boot's console lines wait until the main loop is idle (below
    // `--log-level debug`): the toolstack waits for the stub to serve,
    // not for its log.
    console::hold();
    let Booted { boot, xen_version: version, domid, shared, window, clock, heap_end, incoming } =
        bring_up(NAME, start_info_paddr);
    let opts = cmdline::parse(&boot.cmdline);
    let (major, minor) = (version >> 16, version & 0xffff);
    let iface = match domctl::interface_version(version) {
        Some((iface, guessed)) => {
            if guessed {
                log::warn!("Xen {}.{} is newer than this build knows; assuming the newest domctl interface", major, minor);
            }
            iface
        }
        None => fatal(format_args!(
            "Xen {major}.{minor} is older than 4.14, which this stub does not support"
        )),
    };
    console_line!("{}: domctl interface version {:#x}", NAME, iface);
    if let Some(mark) = BUILD_MARK {
        console_line!("{}: build {}", NAME, mark);
    }
    for word in &opts.unknown {
        log::warn!("ignoring unknown or invalid option {:?}", word);
    }

    // The meter counts the whole heap in use, start-up's share included;
    // a live update's region joins the heap once restored.
    let withheld = incoming.as_ref().map_or(0, |i| i.region.end.saturating_sub(i.region.start));
    let heap_bytes = heap::size().saturating_add(usize::try_from(withheld).unwrap_or(0));
    let budget = MemoryBudget::for_heap(heap_bytes, heap::used);
    console_line!(
        "{}: memory budget {} KiB (guests {} KiB, {} KiB per domain)",
        NAME,
        budget.limit / 1024,
        budget.limit_for(false) / 1024,
        budget.domain_share() / 1024
    );
    let config = EngineOptions {
        quotas: &opts.quotas,
        watch_event_timeout_s: opts.watch_event_timeout_s,
        priv_domid: opts.priv_domid,
        store_domid: domid,
        seed: cpu::rdtsc() ^ boot_tsc.rotate_left(17),
        budget: Some(budget),
    }
    .config(|q| log::warn!("ignoring unknown quota {}={}", q.name, q.value));
    let query = DomainQuery::for_version(version, iface);
    log::info!("domain states from {:?}", query);
    let mut platform = XenPlatform::new(window, query);
    let (engine, virqs) = match incoming {
        Some(inc) => resume(&inc, config, &mut platform, &clock),
        None => fresh(config, opts.event, &mut platform),
    };

    // Counted from the first instruction (the TSC `boot/pvh.s` read at
    // entry, on the pvclock's scale), unless that reading does not fit the
    // clock created at the end of `bring_up`; then from the clock's
    // creation. "bring-up" is the part before the clock: the boot code and
    // `bring_up`.
    let since_clock = clock.now_ms();
    let since_entry = clock.ms_since_tsc(boot_tsc);
    match (time::plausible_since_entry(since_entry, since_clock), since_entry) {
        (Some(ms), _) => console_line!(
            "{}: ready in {} ms from entry (bring-up {} ms, heap free {} KiB)",
            NAME,
            ms,
            ms.saturating_sub(since_clock),
            heap::free() / 1024
        ),
        (None, Some(ms)) => console_line!(
            "{}: ready in {} ms from the clock's start; the entry TSC says {} ms, which does not fit (heap free {} KiB)",
            NAME,
            since_clock,
            ms,
            heap::free() / 1024
        ),
        (None, None) => console_line!(
            "{}: ready in {} ms from the clock's start; the entry TSC is later than the TSC now (heap free {} KiB)",
            NAME,
            since_clock,
            heap::free() / 1024
        ),
    }
    let ctx = Context { heap_end, cmdline: String::from(boot.cmdline.as_str()) };
    Server::new(engine, platform, shared, clock, virqs, ctx).run()
}

/// A first boot: binds the VIRQs, builds the engine and introduces dom0
/// on the launcher's port (`--event`).
fn fresh(config: Config, event: Option<u32>, platform: &mut XenPlatform) -> (Engine, Virqs) {
    let virqs = Virqs {
        dom_exc: evtchn::bind_virq(VIRQ_DOM_EXC)
            .map_err(|e| {
                log::error!("cannot bind VIRQ_DOM_EXC: {}; dead domains will not be noticed", e)
            })
            .ok(),
        timer: evtchn::bind_virq(VIRQ_TIMER)
            .map_err(|e| {
                log::error!("cannot bind VIRQ_TIMER: {}; watch events will not expire on time", e)
            })
            .ok(),
    };
    let priv_domid = config.priv_domid;
    let mut engine = Engine::new(config);
    match event {
        Some(port) => {
            if let Err(e) = engine.introduce(priv_domid, 0, port, platform) {
                log::error!("cannot introduce domain {} on port {}: {:?}", priv_domid.0, port, e);
            }
        }
        None => log::error!("no --event option: domain {} is not served", priv_domid.0),
    }
    // Xen 4.21+: introduce the domains that already exist (binding
    // VIRQ_DOM_EXC above marked them all as changed); the privileged one
    // was introduced just above on the launcher's port and is skipped.
    // Before 4.21 this finds nothing: the toolstack introduces guests.
    let report = engine.start_domains(platform);
    if report.enumerated {
        log::info!(
            "existing domains introduced: {:?}, failed: {:?}",
            report.introduced,
            report.failed
        );
    }
    (engine, virqs)
}

/// A live update's new kernel: the engine restored from the previous
/// kernel's stream, its rings and VIRQ ports adopted as they are bound
/// and mapped, the hand-over region given to the heap. A state that
/// cannot be restored is fatal (C's `barf`).
fn resume(
    inc: &Incoming,
    config: Config,
    platform: &mut XenPlatform,
    clock: &Clock,
) -> (Engine, Virqs) {
    // SAFETY: the region is given to the heap only below, after the last
    // use of `bytes` (the stream is decoded into the heap first).
    let bytes = unsafe { inc.record() };
    let rec = record::parse(bytes)
        .unwrap_or_else(|e| fatal(format_args!("live update: bad hand-over record: {e:?}")));
    let stream = store::stream::decode(rec.stream, heap::free())
        .unwrap_or_else(|e| fatal(format_args!("live update: bad state stream: {e:?}")));
    platform.adopt(&rec.platform.rings);
    let restored = Engine::restore(config, &stream, clock.now_ms(), platform)
        .unwrap_or_else(|e| fatal(format_args!("live update: cannot restore the state: {e:?}")));
    drop(stream);
    platform.release_unadopted();
    for (conn, unread) in &restored.unread {
        log::warn!("live update: {} bytes of connection {:?} not taken", unread.len(), conn);
    }
    let port = |p: u32| (p != 0).then_some(p);
    let virqs = Virqs { dom_exc: port(rec.platform.dom_exc), timer: port(rec.platform.timer) };
    let rings = rec.platform.rings.len();
    let region = inc.region.end.saturating_sub(inc.region.start);
    // SAFETY: nothing refers to the region any more (the record and the
    // stream were last used above); it lies right above the heap
    // (checked by `bring_up`) and nothing else uses it.
    unsafe { heap::extend(usize::try_from(region).unwrap_or(0)) };
    console_line!(
        "{}: live update: took over {} rings and {} KiB of state",
        NAME,
        rings,
        region / 1024
    );
    (restored.engine, virqs)
}
