//! Live update of the stub: the old kernel starts a new one in place and
//! hands it the state in memory, with no help from dom0 (no 9pfs, no
//! kexec hypercall, Xen 4.17 and 4.20 as they are).
//!
//! `xenstore-control live-update IMAGE` sends the unpacked kernel (`-b
//! SIZE`, 2048-byte `-d` chunks), which the engine keeps within the
//! memory budget (`store::liveupdate`), then `-s`. Once the engine says
//! the update is due (no transaction open, or forced), [`hand_over`]:
//!
//! 1. checks the kernel ([`elf`]: x86-64 ELF, its `PT_LOAD` segments
//!    above 1 MiB and below the top of the heap, a PVH entry note) and
//!    lays its segments out as one memory image;
//! 2. dumps the engine as a migration stream (the requester's `OK`
//!    included, as C's `lu_write_response`) and builds the hand-over
//!    region ([`record`]): a PVH start info whose one module is the
//!    record of the platform's state (the `VIRQ_DOM_EXC` and
//!    `VIRQ_TIMER` ports, every ring's port, grant handle and address)
//!    followed by the stream;
//! 3. plans the two copies (kernel to its place, region to the top of
//!    the heap) in an order that overwrites nothing still to be read
//!    ([`plan`]), then [`jump`]s: the trampoline, in a page below the
//!    images, leaves long mode, makes the copies and enters the new
//!    kernel's PVH entry with `%ebx` at the start info.
//!
//! The domain stays the same, so everything Xen holds for it survives:
//! event channels (bound ports, pending bits, masks), grant mappings,
//! the shared-info page, the console's page and port. The new kernel
//! (`start::start`) finds the module ([`incoming`]), keeps the region
//! out of its heap, restores the engine from the stream
//! (`store::Engine::restore`), adopts each ring where it is mapped with
//! its bound port (`XenPlatform::restore_ring`, nothing rebound and no
//! page rewritten; guests see no reconnection), uses the VIRQ ports as
//! they are, gives the region to its heap and serves: the first reply
//! on dom0's ring is the requester's `OK`. Any failure before the jump
//! is answered to the requester and the old kernel goes on; a new
//! kernel that cannot restore the state crashes, as C's `barf`.

pub mod elf;
pub mod incoming;
pub mod jump;
mod le;
pub mod plan;
pub mod record;
mod resume;

pub use resume::resume;

use alloc::vec::Vec;

use store::stream::{ByteOrder, Header};
use store::{ConnId, DumpOptions, DumpSource, Engine, LiveUpdate};

use crate::main_loop::Virqs;
use crate::platform::XenPlatform;
use record::PlatformState;

/// The lowest address a new kernel may use (the images are linked at
/// 1 MiB; below are the trampoline's page and low memory).
pub const IMAGE_FLOOR: u64 = 0x10_0000;

/// What the old kernel knows of itself for a hand-over.
pub struct Context {
    /// End of the heap: the region goes right below it.
    pub heap_end: u64,
    /// The command line the new kernel gets unless `-c` gave one.
    pub cmdline: alloc::string::String,
}

/// The rings' ports, asked by the dump.
struct Ports<'a>(&'a XenPlatform);

impl DumpSource for Ports<'_> {
    fn ring_port(&self, conn: ConnId) -> u32 {
        self.0.ring(conn).map_or(0, |r| r.port)
    }

    fn socket_fd(&self, _: ConnId) -> i32 {
        -1
    }
}

/// Hands over to the new kernel of `lu`; returns only if that failed,
/// with the reason the requester gets.
pub fn hand_over(
    engine: &mut Engine,
    platform: &XenPlatform,
    virqs: &Virqs,
    ctx: &Context,
    lu: &LiveUpdate,
) -> &'static str {
    let Some(image) = engine.take_live_update_image() else {
        return "Kernel not complete.";
    };
    let kernel = match elf::parse(&image, IMAGE_FLOOR..ctx.heap_end) {
        Ok(k) => k,
        Err(e) => {
            log::error!("live update: the new kernel is refused: {:?}", e);
            return "Invalid kernel image.";
        }
    };
    let Some(flat) = elf::flatten(&image, &kernel) else {
        return "Allocation failure.";
    };
    drop(image);
    let opts = DumpOptions {
        header: Header { version: lu.version, order: ByteOrder::Little },
        global: None,
        force: true,
    };
    let mut stream = Vec::new();
    if let Err(e) = engine.dump_bytes(&opts, &Ports(platform), &mut stream) {
        log::error!("live update: dump failed: {:?}", e);
        return "Dump write error";
    }
    let state = PlatformState {
        dom_exc: virqs.dom_exc.unwrap_or(0),
        timer: virqs.timer.unwrap_or(0),
        rings: platform.handover_rings(),
    };
    let cmdline = lu.cmdline.as_deref().unwrap_or(&ctx.cmdline);
    let Some(len) = record::region_len(&state, &stream) else {
        return "Allocation failure.";
    };
    let start = ctx.heap_end.saturating_sub(len as u64);
    let Some(region) = record::region_bytes(start, len, cmdline.as_bytes(), &state, &stream) else {
        return "Allocation failure.";
    };
    drop(stream);
    let moves = plan::moves(
        kernel.span.clone(),
        flat.as_ptr() as u64,
        start..ctx.heap_end,
        region.as_ptr() as u64,
        jump::TRAMPOLINE,
    );
    let moves = match moves {
        Ok(m) => m,
        Err(e) => {
            log::error!("live update: no way to place the new kernel: {:?}", e);
            return "Allocation failure.";
        }
    };
    let Ok(start_info) = u32::try_from(start) else { return "Allocation failure." };
    log::info!(
        "live update: entering the new kernel at {:#x} ({} KiB image, {} rings, {} KiB state at {:#x})",
        kernel.entry,
        flat.len() / 1024,
        state.rings.len(),
        len / 1024,
        start
    );
    crate::console::release_all();
    // SAFETY: `flat` and `region` are alive until the jump, which ends
    // this kernel; `moves` were planned over exactly them.
    let e = unsafe { jump::enter(&jump::Params::new(kernel.entry, start_info, moves)) };
    log::error!("live update: cannot jump: {:?}", e);
    "Error activating new binary."
}
