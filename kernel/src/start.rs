//! The stub's boot sequence: the common bring-up ([`crate::setup`]), then
//! the domctl interface version, the VIRQs, the engine and dom0's
//! connection, then the main loop. The console lines the boot tests grep
//! are printed whatever the log level: `Xen version X.Y`, `domctl interface
//! version 0xNN`, `heap N KiB`, `ready in N ms`. Below `--log-level debug`
//! the boot's lines are held back and written once the main loop is idle
//! ([`crate::console::hold`]); the ready time is counted from the first
//! instruction.

use store::{Engine, EngineOptions, MemoryBudget};

use crate::abi::xen::{VIRQ_DOM_EXC, VIRQ_TIMER};
use crate::domctl::DomainQuery;
use crate::main_loop::{Server, Virqs};
use crate::platform::XenPlatform;
use crate::setup::{bring_up, fatal, Booted};
use crate::{cmdline, console, console_line, cpu, domctl, evtchn, heap, time};

/// The image name the console markers start with.
const NAME: &str = "xenstore-stubdom-rs";

/// Boots the stub and serves xenstore forever.
pub fn start(start_info_paddr: u64, boot_tsc: u64) -> ! {
    // The boot's console lines wait until the main loop is idle (below
    // `--log-level debug`): the toolstack waits for the stub to serve,
    // not for its log.
    console::hold();
    let Booted { boot, xen_version: version, domid, shared, window, clock } =
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
    for word in &opts.unknown {
        log::warn!("ignoring unknown or invalid option {:?}", word);
    }

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

    // The meter counts the whole heap in use, start-up's share included.
    let budget = MemoryBudget::for_heap(heap::size(), heap::used);
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
    let priv_domid = config.priv_domid;
    let mut engine = Engine::new(config);
    let query = DomainQuery::for_version(version, iface);
    log::info!("domain states from {:?}", query);
    let mut platform = XenPlatform::new(window, query);

    match opts.event {
        Some(port) => {
            if let Err(e) = engine.introduce(priv_domid, 0, port, &mut platform) {
                log::error!("cannot introduce domain {} on port {}: {:?}", priv_domid.0, port, e);
            }
        }
        None => log::error!("no --event option: domain {} is not served", priv_domid.0),
    }
    // Xen 4.21+: introduce the domains that already exist (binding
    // VIRQ_DOM_EXC above marked them all as changed); the privileged one
    // was introduced just above on the launcher's port and is skipped.
    // Before 4.21 this finds nothing: the toolstack introduces guests.
    let report = engine.start_domains(&mut platform);
    if report.enumerated {
        log::info!(
            "existing domains introduced: {:?}, failed: {:?}",
            report.introduced,
            report.failed
        );
    }

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
    Server::new(engine, platform, shared, clock, virqs).run()
}
