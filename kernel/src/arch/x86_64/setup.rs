//! Platform bring-up shared by every PVH image of the project (the stub and
//! the hostile test guest): from long mode to a kernel with a hypercall
//! page, console, logger, heap, shared info, interrupts and a clock.
//!
//! Order matters: the hypercall page comes first (everything else is a
//! hypercall), then the start info is copied (the heap may reuse its RAM),
//! then logging, heap, shared info and interrupts. The console lines the
//! boot tests grep are printed whatever the log level, prefixed with the
//! image's name: `Xen version X.Y` and `heap N KiB`.

use super::handover::incoming::Incoming;
use super::start_info::BootInfo;
use super::{cpu, hypercall, idt, start_info};
use crate::main_loop::Clock;
use crate::memmap::{self, PAGE_SIZE};
use crate::shared_info::Shared;
use crate::window::Window;
use crate::{cmdline, console, console_line, heap, logger, xen};

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// What a booted image has to work with.
pub struct Booted {
    /// The start info (command line, memory map).
    pub boot: BootInfo,
    /// `XENVER_version`: major in the high 16 bits, minor in the low.
    pub xen_version: u32,
    /// Our domain id, when Xen's CPUID leaves report it.
    pub domid: Option<u16>,
    /// The mapped shared-info page.
    pub shared: Shared,
    /// Free slots for foreign pages (slot 0, the shared info, excluded).
    pub window: Window,
    /// Monotonic time from the pvclock.
    pub clock: Clock,
    /// End of the heap as planned (a live update's region included).
    pub heap_end: u64,
    /// The hand-over region a previous kernel left (live update), kept
    /// out of the heap until [`crate::heap::extend`] gives it back.
    pub incoming: Option<Incoming>,
}

pub use crate::panic::fatal;

/// Brings the platform up for the image called `name`. The command line's
/// `--log-level` and `--heap-max` options apply to every image.
pub fn bring_up(name: &str, start_info_paddr: u64) -> Booted {
    console_line!("{}: entered long mode", name);
    let Some(xen_cpuid) = hypercall::detect() else {
        console::write_line_now(format_args!("FATAL: not running on Xen (no Xen CPUID leaves)"));
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
    let (log_level, heap_max_bytes) = {
        let opts = cmdline::parse(&boot.cmdline);
        (opts.log_level, opts.heap_max_bytes)
    };
    logger::init(log_level);
    if log_level >= log::LevelFilter::Debug {
        // Debugging: every line at once, so a boot that hangs shows how
        // far it got.
        console::release_all();
    }
    if let Err(e) = console::init_ring() {
        log::warn!("no PV console ring: {}", e);
    }

    let xen_version = xen::version();
    console_line!("{}: Xen version {}.{}", name, xen_version >> 16, xen_version & 0xffff);
    log::info!(
        "command line: {:?}{}",
        boot.cmdline.as_str(),
        if boot.cmdline_truncated { " (truncated)" } else { "" }
    );
    match xen_cpuid.domid {
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
    // SAFETY: the module the start info names is RAM the previous kernel
    // wrote (a live update); nothing is read unless it is ours.
    let incoming = boot.handover.and_then(|(at, size)| unsafe { Incoming::find(at, size) });
    // A hand-over's start info lies in its region, at the top of RAM.
    let data_end = if incoming.is_some() { 0 } else { boot.data_end };
    let mut layout =
        match memmap::plan(&memmap, image.clone(), data_end, reservation, heap_max_bytes) {
            Ok(l) => l,
            Err(e) => fatal(format_args!(
                "no usable memory layout: {e:?} (image {image:#x?}, memory map {memmap:?})"
            )),
        };
    let heap_end = layout.heap.end;
    if let Some(inc) = &incoming {
        if inc.region.end != heap_end || inc.region.start <= layout.heap.start {
            fatal(format_args!(
                "the hand-over region {:#x?} is not the top of the heap {:#x?}",
                inc.region, layout.heap
            ));
        }
        layout.heap.end = inc.region.start;
    }
    let heap_bytes = layout.heap.end.saturating_sub(layout.heap.start);
    let (Ok(heap_start), Ok(heap_len)) =
        (usize::try_from(layout.heap.start), usize::try_from(heap_bytes))
    else {
        fatal(format_args!("heap {:#x?} is not addressable", layout.heap))
    };
    // SAFETY: the planned heap is RAM after the image and the start-info
    // data (already copied), identity-mapped, used by nothing else.
    unsafe { heap::init(heap_start, heap_len) };
    console_line!(
        "{}: heap {} KiB at {:#x} (image {} KiB, reservation {:?} pages)",
        name,
        heap_bytes / 1024,
        layout.heap.start,
        image.end.saturating_sub(image.start) / 1024,
        reservation
    );

    // SAFETY: slot 0 of the window is a hole (checked against the memory
    // map by `plan`), mapped by the boot page tables, and reserved for it.
    let shared = match unsafe { Shared::map(layout.window.start) } {
        Ok(s) => s,
        Err(e) => fatal(format_args!("cannot map shared_info: {e}")),
    };
    // Slot 0 of the window is the shared-info page; the rest hold rings.
    let window_pages =
        (layout.window.end.saturating_sub(layout.window.start) / PAGE_SIZE).saturating_sub(1);
    let window = Window::new(layout.window.start.saturating_add(PAGE_SIZE), window_pages);
    idt::init(shared.upcall_pending_addr());
    if let Err(e) = idt::enable_upcall() {
        fatal(format_args!("cannot set the event callback vector: {e}"));
    }
    let clock = Clock::new(shared);
    Booted { boot, xen_version, domid: xen_cpuid.domid, shared, window, clock, heap_end, incoming }
}
