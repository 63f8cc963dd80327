//! Console output: Xen's debug console ([`arch::debug_write`]: port 0xE9 on
//! x86, `CONSOLEIO_write` on Arm) and the PV console ring (x86).
//!
//! Port 0xE9 works from the first instruction: Xen collects the bytes into
//! lines and prints them as `(dN) ...` when `guest_loglvl` lets guest debug
//! messages through. The PV console ring (`HVM_PARAM_CONSOLE_PFN`/`_EVTCHN`,
//! `struct xencons_interface` in `public/io/console.h`) reaches xenconsoled
//! once that runs; until then the ring fills and further bytes are dropped:
//! the console never blocks the stub. `CONSOLEIO_write` is refused to the
//! stub on release Xen builds, so it is not used.
//!
//! Output goes out a line at a time ([`write_line`], which the logger and
//! [`console_line!`](crate::console_line) use): one `rep outsb` to port
//! 0xE9 (one trap to Xen rather than one per byte), one copy into the ring
//! and one event-channel notification per line.
//!
//! A line is not cheap for Xen: it emulates the `rep outsb` and handles
//! each byte, then prints the line on its serial console (on QEMU's TCG
//! rig about 0.5 ms for a 60-byte line, some 4 µs a byte). So while the
//! stub starts, output can be held back in memory ([`hold`]) and written
//! later, a line at a time, when the main loop has nothing else to do
//! ([`release_line`]): a boot's dozen lines then cost the toolstack no
//! wait. Output before a crash writes what is held first
//! ([`write_line_now`]), and so does output that would overflow the
//! [`HELD_BYTES`] held.

use core::fmt;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicUsize, Ordering};

use spin::Mutex;

use crate::abi::hvm::{console, HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN};
use crate::linebuf::LineBuf;
use crate::{arch, evtchn, xen};

/// Guest-physical address of the console ring page, 0 until set up.
static RING: AtomicUsize = AtomicUsize::new(0);
/// The console's event channel port.
static PORT: AtomicU32 = AtomicU32::new(0);

/// Finds the PV console ring; output goes there as well from now on.
pub fn init_ring() -> Result<(), xen::Errno> {
    let pfn = xen::hvm_get_param(HVM_PARAM_CONSOLE_PFN)?;
    let port = xen::hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN)?;
    // The special pages sit below 4 GiB (0xfefff on the stub), inside the
    // identity map; anything else is not usable.
    if pfn == 0 || pfn >= 0x10_0000 {
        return Err(xen::Errno(22));
    }
    PORT.store(u32::try_from(port).unwrap_or(0), Ordering::Relaxed);
    RING.store(
        usize::try_from(pfn.saturating_mul(4096)).map_err(|_| xen::Errno(22))?,
        Ordering::Release,
    );
    Ok(())
}

/// Longest line written whole (newline included); longer ones are cut.
pub const LINE_BYTES: usize = 256;

/// Most output held back at once ([`hold`]); a boot at the default log
/// level holds about 560 bytes.
pub const HELD_BYTES: usize = 4096;

/// Whether output is being held back.
static HOLDING: AtomicBool = AtomicBool::new(false);
/// The output held back.
static HELD: Mutex<LineBuf<HELD_BYTES>> = Mutex::new(LineBuf::new());

/// Holds output back from now on: [`write`] keeps it in memory until
/// [`release_line`] or [`release_all`] writes it.
pub fn hold() {
    HOLDING.store(true, Ordering::Relaxed);
}

/// Writes the oldest line held back, if any; true if it wrote one. Once
/// nothing is left, output is written at once again.
pub fn release_line() -> bool {
    if !HOLDING.load(Ordering::Relaxed) {
        return false;
    }
    let Some(mut held) = HELD.try_lock() else { return false };
    let wrote = match held.pop_line() {
        Some(line) => {
            emit(line);
            true
        }
        None => false,
    };
    if held.is_empty() {
        HOLDING.store(false, Ordering::Relaxed);
    }
    wrote
}

/// Writes everything held back at once; output is written at once from
/// now on.
pub fn release_all() {
    if HOLDING.swap(false, Ordering::Relaxed) {
        if let Some(mut held) = HELD.try_lock() {
            emit(held.take_all());
        }
    }
}

/// Writes `bytes` to every console, in one piece each, or holds them back
/// ([`hold`]).
pub fn write(bytes: &[u8]) {
    if HOLDING.load(Ordering::Relaxed) {
        // Locked only if a CPU exception came while the console held the
        // lock: its report is written at once.
        if let Some(mut held) = HELD.try_lock() {
            if held.push(bytes) {
                return;
            }
            // Full: everything held goes first, in order.
            HOLDING.store(false, Ordering::Relaxed);
            emit(held.take_all());
        }
    }
    emit(bytes);
}

/// Writes `bytes` to every console now.
fn emit(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    arch::debug_write(bytes);
    write_ring(bytes);
}

/// Formats `args` and writes the result with a newline, as one piece
/// ([`write`]); a line longer than [`LINE_BYTES`] is cut.
pub fn write_line(args: fmt::Arguments<'_>) {
    let mut line = Line::default();
    // `Line` never fails; a formatting trait that does just ends the line.
    let _ = fmt::Write::write_fmt(&mut line, args);
    write(line.finish());
}

/// Writes everything held back ([`release_all`]), then the line, at once:
/// for the last words before a crash.
pub fn write_line_now(args: fmt::Arguments<'_>) {
    release_all();
    write_line(args);
}

/// A line being formatted: up to [`LINE_BYTES`] - 1 bytes of text, then
/// the newline.
struct Line {
    /// The text, then the newline.
    buf: [u8; LINE_BYTES],
    /// Bytes of text so far (below `LINE_BYTES`).
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line { buf: [0; LINE_BYTES], len: 0 }
    }
}

impl Line {
    /// The text and its newline.
    fn finish(&mut self) -> &[u8] {
        let end = self.len.min(LINE_BYTES.saturating_sub(1));
        if let Some(b) = self.buf.get_mut(end) {
            *b = b'\n';
        }
        self.buf.get(..=end).unwrap_or_default()
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = LINE_BYTES.saturating_sub(1).saturating_sub(self.len);
        let take = s.len().min(room);
        let end = self.len.saturating_add(take);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..end), s.as_bytes().get(..take))
        {
            dst.copy_from_slice(src);
            self.len = end;
        }
        Ok(())
    }
}

/// Copies as much of `bytes` as fits into the PV console ring, translating
/// `\n` to `\r\n`, then publishes and notifies.
fn write_ring(bytes: &[u8]) {
    let base = RING.load(Ordering::Acquire);
    if base == 0 {
        return;
    }
    // `base` is a page below 4 GiB (`init_ring`): offsets into it never wrap.
    let cons_ptr = base.wrapping_add(console::OUT_CONS_OFFSET) as *mut u32;
    let prod_ptr = base.wrapping_add(console::OUT_PROD_OFFSET) as *mut u32;
    // SAFETY: `base` is the console page from HVM_PARAM_CONSOLE_PFN, mapped
    // by the identity page tables; the index words are 4-aligned and only
    // accessed atomically (xenconsoled writes `out_cons`).
    let (cons, prod) = unsafe {
        (
            AtomicU32::from_ptr(cons_ptr).load(Ordering::Acquire),
            AtomicU32::from_ptr(prod_ptr).load(Ordering::Relaxed),
        )
    };
    let mut used = prod.wrapping_sub(cons);
    if used > console::OUT_SIZE {
        return; // Inconsistent indices: write nothing.
    }
    let mut p = prod;
    let mut put = |byte: u8| -> bool {
        if used >= console::OUT_SIZE {
            return false;
        }
        let at =
            base.wrapping_add(console::OUT_OFFSET).wrapping_add((p % console::OUT_SIZE) as usize);
        // SAFETY: `at` lies within `out[]` of the console page.
        unsafe { core::ptr::write_volatile(at as *mut u8, byte) };
        p = p.wrapping_add(1);
        used = used.saturating_add(1);
        true
    };
    for &b in bytes {
        if (b == b'\n' && !put(b'\r')) || !put(b) {
            break;
        }
    }
    if p != prod {
        // Orders the byte writes above before the index store that hands
        // them to xenconsoled.
        fence(Ordering::Release);
        // SAFETY: as above.
        unsafe { AtomicU32::from_ptr(prod_ptr).store(p, Ordering::Release) };
        let _ = evtchn::send(PORT.load(Ordering::Relaxed));
    }
}

/// Prints a line on the console whatever the log level ([`write_line`]):
/// used for the markers the boot tests look for.
#[macro_export]
macro_rules! console_line {
    ($($arg:tt)*) => {
        $crate::console::write_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write as _;

    #[test]
    fn a_line_ends_in_one_newline() {
        let mut l = Line::default();
        write!(l, "a {} c", 42).unwrap();
        assert_eq!(l.finish(), b"a 42 c\n");
        assert_eq!(Line::default().finish(), b"\n");
    }

    #[test]
    fn a_long_line_is_cut_and_still_ends_in_a_newline() {
        let mut l = Line::default();
        for _ in 0..100 {
            l.write_str("abcdefg").unwrap();
        }
        let out = l.finish();
        assert_eq!(out.len(), LINE_BYTES);
        assert_eq!(out.last(), Some(&b'\n'));
        assert!(out[..LINE_BYTES - 1].iter().all(|b| b.is_ascii_lowercase()));
    }
}
