//! Platform bring-up on Xen on Arm, from the device tree to a kernel with
//! a console, logger, heap, shared info, grant table, event channels and a
//! clock.
//!
//! Order: the console works from the first instruction (`CONSOLEIO_write`);
//! the device tree is read and its `bootargs` copied before the heap may
//! reuse memory; then the heap, the shared-info page and our grant-table
//! frame go where [`crate::dtlayout`] plans them. Two checks print what the
//! boot tests look for, whatever the log level: the grant table's size
//! (`GNTTABOP_query_size` after mapping its frame 0) and an event channel
//! looped back to ourselves (allocated for `DOMID_SELF`, bound, signalled,
//! seen pending in shared info), which also tells us our domain id.

use core::sync::atomic::Ordering;

use heapless::String;

use super::{cpu, events, Clock};
use crate::abi::grant_table::{GnttabQuerySize, GNTST_OKAY, GNTTABOP_QUERY_SIZE};
use crate::abi::memory::XENMAPSPACE_GRANT_TABLE;
use crate::abi::xen::{hypercall as nr, DOMID_SELF};
use crate::dtlayout::{self, FIXED_GRANT_REGION, FIXED_RAM_BASE};
use crate::fdt::{self, Fdt, XenNode};
use crate::memmap::PAGE_SIZE;
use crate::panic::fatal;
use crate::shared_info::Shared;
use crate::window::Window;
use crate::{cmdline, console, console_line, evtchn, heap, logger, xen};

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Longest command line kept.
pub const MAX_CMDLINE_BYTES: usize = 1024;
/// Bytes of the device tree header read before its size is known.
const FDT_HEADER_BYTES: usize = 40;
/// The largest device tree accepted (Xen's for a domain is a few KiB).
const MAX_FDT_BYTES: usize = 2 * 1024 * 1024;

/// What the Arm bring-up hands on.
pub struct Booted {
    /// `/chosen`'s `bootargs` (cut at [`MAX_CMDLINE_BYTES`]).
    pub cmdline: String<MAX_CMDLINE_BYTES>,
    /// `XENVER_version`: major in the high 16 bits, minor in the low.
    pub xen_version: u32,
    /// Our domain id (from the loop-back event channel).
    pub domid: Option<u16>,
    /// The mapped shared-info page.
    pub shared: Shared,
    /// Free slots for ring pages (the shared info's slot excluded).
    pub window: Window,
    /// Monotonic time from the virtual counter.
    pub clock: Clock,
}

/// Brings the platform up for the image called `name`, from the device
/// tree at `dtb`.
pub fn bring_up(name: &str, dtb: u64) -> Booted {
    console_line!("{}: entered EL1, device tree at {:#x}", name, dtb);
    // SAFETY: Xen put the device tree at `dtb` (x0 at entry), in our RAM,
    // identity-mapped; it is only read, and the heap is planned around it.
    let header = unsafe { core::slice::from_raw_parts(dtb as *const u8, FDT_HEADER_BYTES) };
    let size = match fdt::total_size(header) {
        Ok(s) if s <= MAX_FDT_BYTES => s,
        Ok(s) => fatal(format_args!("device tree of {s} bytes is too large")),
        Err(e) => fatal(format_args!("no device tree at {dtb:#x}: {e:?}")),
    };
    // SAFETY: as above, for the size the header gives (bounded).
    let blob = unsafe { core::slice::from_raw_parts(dtb as *const u8, size) };
    let tree = match Fdt::new(blob) {
        Ok(t) => t,
        Err(e) => fatal(format_args!("bad device tree at {dtb:#x}: {e:?}")),
    };
    let node = XenNode::read(&tree);
    let bootargs = node
        .as_ref()
        .map(|n| n.bootargs)
        .or_else(|| tree.node("/chosen").and_then(|c| c.prop_str("bootargs")));
    let mut cmdline = String::new();
    for c in bootargs.unwrap_or("").chars() {
        if cmdline.push(c).is_err() {
            break;
        }
    }
    let (log_level, heap_max) = {
        let opts = cmdline::parse(&cmdline);
        (opts.log_level, opts.heap_max_bytes)
    };
    logger::init(log_level);
    if log_level >= log::LevelFilter::Debug {
        console::release_all();
    }

    let xen_version = xen::version();
    console_line!("{}: Xen version {}.{}", name, xen_version >> 16, xen_version & 0xffff);
    log::info!("command line: {:?}", cmdline.as_str());
    match &node {
        Some(n) => log::info!(
            "/hypervisor: version {:?}, regions {:x?}, event PPI {:?}",
            n.version.map(|v| (v >> 16, v & 0xffff)),
            n.regions,
            n.event_irq
        ),
        None => log::info!("no /hypervisor node: the fixed guest layout stands in"),
    }

    let image =
        (core::ptr::addr_of!(__image_start) as u64)..(core::ptr::addr_of!(__image_end) as u64);
    let ram = tree
        .node("/memory")
        .and_then(|m| m.regions(2, 2).first().copied())
        .or(node.as_ref().and_then(|n| n.ram))
        .unwrap_or((FIXED_RAM_BASE, 0));
    let grant = node.as_ref().and_then(XenNode::grant_region).unwrap_or(FIXED_GRANT_REGION);
    let extended = node.as_ref().map(|n| n.extended_regions()).unwrap_or_default();
    let dtb_range = dtb..dtb.saturating_add(size as u64);
    let plan = match dtlayout::plan(ram, image.clone(), dtb_range, grant, extended, heap_max) {
        Ok(p) => p,
        Err(e) => {
            fatal(format_args!("no usable memory layout: {e:?} (image {image:#x?}, RAM {ram:#x?})"))
        }
    };
    let heap_range = plan.layout.heap.clone();
    let heap_bytes = heap_range.end.saturating_sub(heap_range.start);
    let (Ok(heap_start), Ok(heap_len)) =
        (usize::try_from(heap_range.start), usize::try_from(heap_bytes))
    else {
        fatal(format_args!("heap {heap_range:#x?} is not addressable"))
    };
    // SAFETY: the planned heap is RAM after the image and below the device
    // tree (whose bootargs were copied), identity-mapped, used by nothing
    // else.
    unsafe { heap::init(heap_start, heap_len) };
    console_line!(
        "{}: heap {} KiB at {:#x} (image {} KiB, RAM {:#x}+{:#x})",
        name,
        heap_bytes / 1024,
        heap_range.start,
        image.end.saturating_sub(image.start) / 1024,
        ram.0,
        ram.1
    );

    let window_range = plan.layout.window.clone();
    // SAFETY: the window's first page is free guest-physical space (an
    // extended region or the unused half of the grant region), mapped
    // Normal write-back by the boot code, reserved for the shared info.
    let shared = match unsafe { Shared::map(window_range.start) } {
        Ok(s) => s,
        Err(e) => fatal(format_args!("cannot map shared_info at {:#x}: {e}", window_range.start)),
    };
    let pages = (window_range.end.saturating_sub(window_range.start) / PAGE_SIZE).saturating_sub(1);
    let window = Window::new(window_range.start.saturating_add(PAGE_SIZE), pages);
    log::info!("shared info at {:#x}, {} ring slots after it", window_range.start, pages);

    grant_table(name, plan.grant_frame);
    let clock = Clock::new();
    if let Err(e) = events::init(&clock) {
        log::warn!("no runstate area ({}): poll timeouts may come early", e);
    }
    let domid = loopback(name, &shared);
    Booted { cmdline, xen_version, domid, shared, window, clock }
}

/// Maps our grant-table frame 0 at `gpa` and reports the table's size.
fn grant_table(name: &str, gpa: u64) {
    // SAFETY: `gpa` is the start of the grant-table region, free
    // guest-physical space kept for exactly this frame.
    if let Err(e) = unsafe { xen::add_to_physmap(XENMAPSPACE_GRANT_TABLE, 0, gpa / PAGE_SIZE) } {
        console_line!("{}: grant table: cannot map frame 0 at {:#x}: {}", name, gpa, e);
        return;
    }
    let mut q = GnttabQuerySize { dom: DOMID_SELF, ..GnttabQuerySize::default() };
    // SAFETY: GNTTABOP_query_size with count 1 reads and writes `q`.
    let ret = unsafe {
        crate::hypercall::hypercall(
            nr::GRANT_TABLE_OP,
            GNTTABOP_QUERY_SIZE,
            &mut q as *mut _ as usize,
            1,
            0,
            0,
        )
    };
    match xen::check(ret) {
        Ok(_) if q.status == GNTST_OKAY => console_line!(
            "{}: grant table frame 0 at {:#x}, {} of {} frames",
            name,
            gpa,
            q.nr_frames,
            q.max_nr_frames
        ),
        r => console_line!("{}: grant table: query_size {:?}, status {}", name, r, q.status),
    }
}

/// Loops an event channel back to ourselves: allocate a port for
/// `DOMID_SELF`, bind a second port to it, signal, and look for the first
/// port pending in shared info. Returns our domain id, which the unbound
/// port names as its remote end.
fn loopback(name: &str, shared: &Shared) -> Option<u16> {
    let a = evtchn::alloc_unbound(DOMID_SELF)
        .map_err(|e| console_line!("{}: event channel: alloc_unbound: {}", name, e))
        .ok()?;
    let domid = evtchn::remote_domid(a).ok();
    let result = evtchn::bind_interdomain(DOMID_SELF, a).and_then(|b| {
        evtchn::send(b)?;
        let seen = evtchn::is_pending(shared.pending(), a);
        let _ = evtchn::close(b);
        Ok((b, seen))
    });
    let _ = evtchn::close(a);
    // The loop-back's events are not ours to serve.
    shared.pending_sel().store(0, Ordering::Release);
    shared.upcall_pending().store(0, Ordering::Release);
    match result {
        Ok((b, true)) => console_line!(
            "{}: event channel loop-back ok (port {} -> {}), domain id {:?}",
            name,
            b,
            a,
            domid
        ),
        Ok((b, false)) => {
            console_line!("{}: event channel loop-back: port {} -> {} not pending", name, b, a)
        }
        Err(e) => console_line!("{}: event channel loop-back: {}", name, e),
    }
    log::debug!("counter at {} Hz", cpu::counter_hz());
    domid
}
