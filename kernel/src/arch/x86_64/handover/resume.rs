//! The new kernel's start after a live update: the engine restored from
//! the previous kernel's stream, its rings and VIRQ ports adopted.

use store::{Config, Engine};

use super::incoming::Incoming;
use super::record;
use crate::main_loop::{Clock, Virqs};
use crate::panic::fatal;
use crate::platform::XenPlatform;
use crate::{console_line, heap};

/// A live update's new kernel: the engine restored from the previous
/// kernel's stream, its rings and VIRQ ports adopted as they are bound
/// and mapped, the hand-over region given to the heap. A state that
/// cannot be restored is fatal (C's `barf`).
pub fn resume(
    inc: &Incoming,
    config: Config,
    platform: &mut XenPlatform,
    clock: &Clock,
    name: &str,
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
    let region = inc.region_len();
    // SAFETY: nothing refers to the region any more (the record and the
    // stream were last used above); it lies right above the heap
    // (checked by `bring_up`) and nothing else uses it.
    unsafe { heap::extend(region) };
    console_line!(
        "{}: live update: took over {} rings and {} KiB of state",
        name,
        rings,
        region / 1024
    );
    (restored.engine, virqs)
}
