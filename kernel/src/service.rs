//! The stub's start-up once the platform is up, the same on every
//! architecture: the domctl interface version, the VIRQs, the engine, the
//! privileged domain's ring (when the launcher named its port), the
//! domains that already exist (Xen 4.21+), the ready line, then the main
//! loop. The console lines the boot tests grep are printed whatever the
//! log level: `domctl interface version 0xNN`, `ready in N ms`.

use store::{Config, Engine, EngineOptions, MemoryBudget};

use crate::abi::xen::{VIRQ_DOM_EXC, VIRQ_TIMER};
use crate::cmdline::Options;
use crate::domctl::DomainQuery;
#[cfg(not(target_arch = "aarch64"))]
use crate::handover::{incoming::Incoming, Context};
use crate::main_loop::{Clock, Server, Virqs};
use crate::panic::fatal;
use crate::platform::XenPlatform;
use crate::poll::{Poll, DEFAULT_POLL_US, MAX_POLL_US};
use crate::shared_info::Shared;
use crate::window::Window;
use crate::{console_line, domctl, evtchn, heap, time};

/// A build's mark, printed in the banner when the image was built with
/// `XS_STUB_BUILD=...` (the live-update check tells two builds apart by
/// it).
const BUILD_MARK: Option<&str> = option_env!("XS_STUB_BUILD");

/// What an architecture's bring-up hands to the service.
pub struct Service<'a> {
    /// The image name the console markers start with.
    pub name: &'static str,
    /// The parsed command line.
    pub opts: Options<'a>,
    /// `XENVER_version`: major in the high 16 bits, minor in the low.
    pub xen_version: u32,
    /// Our domain id, when the platform reports it.
    pub domid: Option<u16>,
    /// The mapped shared-info page.
    pub shared: Shared,
    /// Free slots for ring pages.
    pub window: Window,
    /// Monotonic time.
    pub clock: Clock,
    /// The clock's reading at the first instruction (for the ready time).
    pub entry_stamp: u64,
    /// A boot-dependent seed for the engine's hashes.
    pub seed: u64,
    /// `VIRQ_TIMER` wakes the stub from its sleep (x86; Arm has no timer
    /// VIRQ and sleeps with a timeout instead).
    pub timer_virq: bool,
    /// A dom0less system: no toolstack, the stub writes the homes of the
    /// domains it introduces and finds their store ports itself.
    pub dom0less: bool,
    /// What a live update's hand-over needs (x86).
    #[cfg(not(target_arch = "aarch64"))]
    pub ctx: Context,
    /// The state a previous kernel handed over (x86, a live update).
    #[cfg(not(target_arch = "aarch64"))]
    pub incoming: Option<Incoming>,
}

/// Builds the engine, introduces the domains it serves and runs the main
/// loop forever.
pub fn serve(s: Service<'_>) -> ! {
    let Service { name, ref opts, xen_version: version, domid, .. } = s;
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
    console_line!("{}: domctl interface version {:#x}", name, iface);
    if let Some(mark) = BUILD_MARK {
        console_line!("{}: build {}", name, mark);
    }
    for word in &opts.unknown {
        log::warn!("ignoring unknown or invalid option {:?}", word);
    }

    // The meter counts the whole heap in use, start-up's share included;
    // a live update's hand-over region joins the heap once restored.
    #[cfg(not(target_arch = "aarch64"))]
    let withheld = s.incoming.as_ref().map_or(0, Incoming::region_len);
    #[cfg(target_arch = "aarch64")]
    let withheld = 0;
    let budget = MemoryBudget::for_heap(heap::size().saturating_add(withheld), heap::used);
    console_line!(
        "{}: memory budget {} KiB (guests {} KiB, {} KiB per domain)",
        name,
        budget.limit / 1024,
        budget.limit_for(false) / 1024,
        budget.domain_share() / 1024
    );
    let config = EngineOptions {
        quotas: &opts.quotas,
        watch_event_timeout_s: opts.watch_event_timeout_s,
        priv_domid: opts.priv_domid,
        store_domid: domid,
        seed: s.seed,
        budget: Some(budget),
    }
    .config(|q| log::warn!("ignoring unknown quota {}={}", q.name, q.value));
    let query = DomainQuery::for_version(version, iface);
    log::info!("domain states from {:?}", query);
    let mut platform = XenPlatform::new(s.window, query);
    if s.dom0less {
        platform = platform.dom0less(iface);
    }
    if opts.destroy_on_shutdown {
        if s.dom0less {
            console_line!("{}: domains that shut down for good are destroyed", name);
            platform = platform.destroy_on_shutdown(iface);
        } else {
            log::warn!(
                "--on-shutdown destroy is for a dom0less system; a toolstack destroys domains here"
            );
        }
    }
    #[cfg(not(target_arch = "aarch64"))]
    let (engine, virqs) = match s.incoming {
        Some(inc) => crate::handover::resume(&inc, config, &mut platform, &s.clock, name),
        None => fresh(name, opts.event, s.timer_virq, config, &mut platform),
    };
    #[cfg(target_arch = "aarch64")]
    let (engine, virqs) = fresh(name, opts.event, s.timer_virq, config, &mut platform);
    let clock = s.clock;

    // Counted from the first instruction (the counter the boot code read
    // at entry, on the clock's scale), unless that reading does not fit
    // the clock created at the end of the bring-up; then from the clock's
    // creation. "bring-up" is the part before the clock.
    let since_clock = clock.now_ms();
    let since_entry = clock.ms_since_entry(s.entry_stamp);
    match (time::plausible_since_entry(since_entry, since_clock), since_entry) {
        (Some(ms), _) => console_line!(
            "{}: ready in {} ms from entry (bring-up {} ms, heap free {} KiB)",
            name,
            ms,
            ms.saturating_sub(since_clock),
            heap::free() / 1024
        ),
        (None, Some(ms)) => console_line!(
            "{}: ready in {} ms from the clock's start; the entry stamp says {} ms, which does not fit (heap free {} KiB)",
            name,
            since_clock,
            ms,
            heap::free() / 1024
        ),
        (None, None) => console_line!(
            "{}: ready in {} ms from the clock's start; the entry stamp is later than the clock now (heap free {} KiB)",
            name,
            since_clock,
            heap::free() / 1024
        ),
    }
    let poll = Poll::new(opts.poll_us.unwrap_or(DEFAULT_POLL_US));
    if poll.enabled() {
        log::info!(
            "polling {} us after each served round",
            opts.poll_us.unwrap_or(DEFAULT_POLL_US).min(MAX_POLL_US)
        );
    }
    Server::new(
        engine,
        platform,
        s.shared,
        clock,
        virqs,
        poll,
        #[cfg(not(target_arch = "aarch64"))]
        s.ctx,
    )
    .run()
}

/// A first boot: binds the VIRQs, builds the engine, introduces the
/// launcher's domain on its port (`--event`) and the domains that already
/// exist.
fn fresh(
    name: &str,
    event: Option<u32>,
    timer_virq: bool,
    config: Config,
    platform: &mut XenPlatform,
) -> (Engine, Virqs) {
    let virqs = Virqs {
        dom_exc: evtchn::bind_virq(VIRQ_DOM_EXC)
            .map_err(|e| {
                log::error!("cannot bind VIRQ_DOM_EXC: {}; dead domains will not be noticed", e)
            })
            .ok(),
        timer: if timer_virq {
            evtchn::bind_virq(VIRQ_TIMER)
                .map_err(|e| {
                    log::error!(
                        "cannot bind VIRQ_TIMER: {}; watch events will not expire on time",
                        e
                    )
                })
                .ok()
        } else {
            None
        },
    };

    let priv_domid = config.priv_domid;
    let mut engine = Engine::new(config);

    match event {
        Some(port) => {
            if let Err(e) = engine.introduce(priv_domid, 0, port, platform) {
                log::error!("cannot introduce domain {} on port {}: {:?}", priv_domid.0, port, e);
            }
        }
        None => log::info!("no --event option: no launcher's domain to serve first"),
    }
    // Xen 4.21+: introduce the domains that already exist (binding
    // VIRQ_DOM_EXC above marked them all as changed); the privileged one
    // was introduced just above on the launcher's port and is skipped.
    // Before 4.21 this finds nothing: the toolstack introduces guests.
    let report = engine.start_domains(platform);
    if report.enumerated {
        console_line!(
            "{}: existing domains introduced: {:?}, failed: {:?}",
            name,
            report.introduced,
            report.failed
        );
    }

    (engine, virqs)
}
