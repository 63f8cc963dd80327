//! The boot sequence, from long mode to the main loop.
//!
//! Order matters: the hypercall page comes first (everything else is a
//! hypercall), then the start info is copied (the heap may reuse its RAM),
//! then logging, heap, shared info, interrupts and event channels. The
//! console lines the boot tests grep are printed whatever the log level:
//! `Xen version X.Y`, `domctl interface version 0xNN`, `heap N KiB`,
//! `ready in N ms`.

use store::{Config, DomId, Engine};

use crate::abi::sched::SHUTDOWN_CRASH;
use crate::abi::xen::{VIRQ_DOM_EXC, VIRQ_TIMER};
use crate::main_loop::{Clock, Server, Virqs};
use crate::memmap::{self, PAGE_SIZE};
use crate::platform::XenPlatform;
use crate::shared_info::Shared;
use crate::window::Window;
use crate::{
    cmdline, console, console_line, cpu, domctl, evtchn, heap, hypercall, idt, logger, start_info,
    time, xen,
};

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Prints a fatal boot error and crashes the domain.
fn fatal(what: core::fmt::Arguments<'_>) -> ! {
    console_line!("FATAL: {}", what);
    xen::shutdown(SHUTDOWN_CRASH)
}

/// Boots the stub and serves xenstore forever.
pub fn start(start_info_paddr: u64, boot_tsc: u64) -> ! {
    console::write(b"xenstore-stubdom-rs: entered long mode\n");
    let Some(xen_cpuid) = hypercall::detect() else {
        console::write(b"FATAL: not running on Xen (no Xen CPUID leaves)\n");
        loop {
            cpu::sti_hlt_cli();
        }
    };
    hypercall::install(&xen_cpuid);

    // SAFETY: `start_info_paddr` is the %ebx of the PVH entry and the low
    // 4 GiB are identity-mapped by the boot page tables.
    let boot = match unsafe { start_info::read(start_info_paddr) } {
        Ok(b) => b,
        Err(e) => fatal(format_args!("bad hvm_start_info at {start_info_paddr:#x}: {e:?}")),
    };
    let opts = cmdline::parse(&boot.cmdline);
    logger::init(opts.log_level);
    if let Err(e) = console::init_ring() {
        log::warn!("no PV console ring: {}", e);
    }

    let version = xen::version();
    let (major, minor) = (version >> 16, version & 0xffff);
    console_line!("xenstore-stubdom-rs: Xen version {}.{}", major, minor);
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
    console_line!("xenstore-stubdom-rs: domctl interface version {:#x}", iface);
    let domid = xen_cpuid.domid;
    log::info!(
        "command line: {:?}{}",
        boot.cmdline.as_str(),
        if boot.cmdline_truncated { " (truncated)" } else { "" }
    );
    for word in &opts.unknown {
        log::warn!("ignoring unknown or invalid option {:?}", word);
    }
    match domid {
        Some(d) => log::info!("own domain id {}", d),
        None => log::warn!("Xen does not report our domain id"),
    }

    let image =
        (core::ptr::addr_of!(__image_start) as u64)..(core::ptr::addr_of!(__image_end) as u64);
    let mut memmap = boot.memmap.clone();
    if memmap.is_empty() {
        let mut buf = [Default::default(); start_info::MAX_MEMMAP_ENTRIES];
        match xen::memory_map(&mut buf) {
            Ok(n) => memmap.extend(buf.iter().take(n).copied()),
            Err(e) => log::error!("no memory map from the start info nor from Xen: {}", e),
        }
    }
    log::debug!("memory map {:?}", memmap);
    let reservation = xen::current_reservation().ok();
    let layout =
        match memmap::plan(&memmap, image.clone(), boot.data_end, reservation, opts.heap_max_bytes)
        {
            Ok(l) => l,
            Err(e) => fatal(format_args!(
                "no usable memory layout: {e:?} (image {image:#x?}, memory map {memmap:?})"
            )),
        };
    let heap_bytes = layout.heap.end - layout.heap.start;
    let (Ok(heap_start), Ok(heap_len)) =
        (usize::try_from(layout.heap.start), usize::try_from(heap_bytes))
    else {
        fatal(format_args!("heap {:#x?} is not addressable", layout.heap))
    };
    // SAFETY: the planned heap is RAM after the image and the start-info
    // data (already copied), identity-mapped, used by nothing else.
    unsafe { heap::init(heap_start, heap_len) };
    console_line!(
        "xenstore-stubdom-rs: heap {} KiB at {:#x} (image {} KiB, reservation {:?} pages)",
        heap_bytes / 1024,
        layout.heap.start,
        (image.end - image.start) / 1024,
        reservation
    );

    // SAFETY: slot 0 of the window is a hole (checked against the memory
    // map by `plan`), mapped by the boot page tables, and reserved for it.
    let shared = match unsafe { Shared::map(layout.window.start) } {
        Ok(s) => s,
        Err(e) => fatal(format_args!("cannot map shared_info: {e}")),
    };
    let window_pages = (layout.window.end - layout.window.start) / PAGE_SIZE - 1;
    let window = Window::new(layout.window.start + PAGE_SIZE, window_pages);
    idt::init(shared.upcall_pending_addr());
    if let Err(e) = idt::enable_upcall() {
        fatal(format_args!("cannot set the event callback vector: {e}"));
    }
    let clock = Clock::new(shared);

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

    let mut config = Config::default();
    if let Some(d) = domid {
        config.store_domid = DomId(d);
    }
    if let Some(p) = opts.priv_domid {
        config.priv_domid = DomId(p);
    }
    config.hash_seed ^= cpu::rdtsc() ^ boot_tsc.rotate_left(17);
    for &(name, value) in &opts.quotas {
        if config.set_quota(name, value).is_err() {
            log::warn!("ignoring unknown quota {}={}", name, value);
        }
    }
    let server_features = config.server_features;
    let priv_domid = config.priv_domid;
    let mut engine = Engine::new(config);
    let mut platform = XenPlatform::new(window, iface, server_features);

    match opts.event {
        Some(port) => {
            if let Err(e) = engine.introduce(priv_domid, 0, port, &mut platform) {
                log::error!("cannot introduce domain {} on port {}: {:?}", priv_domid.0, port, e);
            }
        }
        None => log::error!("no --event option: domain {} is not served", priv_domid.0),
    }

    let boot_ms = clock_ms_since(&shared, boot_tsc);
    console_line!(
        "xenstore-stubdom-rs: ready in {} ms (heap free {} KiB)",
        boot_ms,
        heap::free() / 1024
    );
    Server::new(engine, platform, shared, clock, virqs).run()
}

/// Milliseconds since the TSC read `boot_tsc`, using the pvclock's scale.
fn clock_ms_since(shared: &Shared, boot_tsc: u64) -> u64 {
    let t = shared.time_info();
    time::scale_delta(cpu::rdtsc().wrapping_sub(boot_tsc), &t) / time::NS_PER_MS
}
