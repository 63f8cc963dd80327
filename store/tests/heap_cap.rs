//! The hard memory bound, measured on the real heap: the engine runs on
//! the stub's own allocator (`linked_list_allocator`, first fit) over a
//! heap the size of the stub's at `--memory 4`, with that heap as its
//! budget (`store::budget`), while guests attack it. An allocation the
//! heap cannot satisfy, for want of bytes or of a free block large enough
//! (fragmentation), fails, which aborts this test binary: surviving is the
//! first assertion. The others: attackers get errors (or flow control),
//! dom0 keeps being served, charged bytes follow the heap, and forgetting
//! the attackers gives the memory back.
//!
//! One test in this file. It runs on a small stack, so it also shows that
//! no request recurses once per path component.

mod common;

use ring::wire::MsgType;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use common::{deep, ok, request, World};
use linked_list_allocator::Heap;
use store::{Config, ConnId, DomainState, MemoryBudget};

/// The stub's heap at `init-xenstore-domain --memory 4` (its console:
/// "heap 2528 KiB" since the live update's code is linked in), bytes.
const STUB_HEAP: usize = 2_528 * 1024;

/// The stub's heap: the allocations of the thread that runs the attacks.
static HEAP: Mutex<Heap> = Mutex::new(Heap::empty());
/// Where the heap's memory lies: `[start, end)`.
static HEAP_START: AtomicUsize = AtomicUsize::new(0);
static HEAP_END: AtomicUsize = AtomicUsize::new(0);
/// The most the heap held, and the largest allocation, since [`phase`].
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BIGGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread allocates from [`HEAP`].
    static ON_STUB_HEAP: Cell<bool> = const { Cell::new(false) };
}

/// Routes the attack thread's allocations to [`HEAP`], everything else to
/// `System`.
struct StubHeap;

fn on_stub_heap() -> bool {
    ON_STUB_HEAP.try_with(Cell::get).unwrap_or(false)
}

fn in_stub_heap(ptr: *mut u8) -> bool {
    (HEAP_START.load(SeqCst)..HEAP_END.load(SeqCst)).contains(&(ptr as usize))
}

// SAFETY: an allocation comes from `HEAP` or `System` and goes back to the
// one whose address range holds it, with the caller's layout.
unsafe impl GlobalAlloc for StubHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !on_stub_heap() {
            // SAFETY: forwarded with the caller's layout.
            return unsafe { System.alloc(layout) };
        }
        BIGGEST.fetch_max(layout.size(), SeqCst);
        let mut heap = HEAP.lock().unwrap_or_else(|e| e.into_inner());
        match heap.allocate_first_fit(layout) {
            Ok(p) => {
                PEAK.fetch_max(heap.used(), SeqCst);
                p.as_ptr()
            }
            Err(()) => {
                let (used, free) = (heap.used(), heap.free());
                drop(heap);
                heap_exhausted(layout.size(), used, free)
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_stub_heap(ptr) {
            if let Some(p) = NonNull::new(ptr) {
                // SAFETY: `p` came from this heap's `allocate_first_fit`
                // with this layout.
                unsafe { HEAP.lock().unwrap_or_else(|e| e.into_inner()).deallocate(p, layout) }
            }
        } else {
            // SAFETY: `ptr` came from `System.alloc` with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}

/// An allocation the heap could not satisfy: in the stub it would panic
/// and crash the domain; here it ends the test, loudly.
fn heap_exhausted(bytes: usize, used: usize, free: usize) -> ! {
    ON_STUB_HEAP.with(|f| f.set(false));
    eprintln!("stub heap exhausted: {bytes} bytes asked, {used} used, {free} free");
    std::process::abort()
}

#[global_allocator]
static GLOBAL: StubHeap = StubHeap;

/// Gives the calling thread a fresh stub heap of [`STUB_HEAP`] bytes.
fn start_stub_heap() {
    let layout = Layout::from_size_align(STUB_HEAP, 4096).expect("a layout");
    // SAFETY: a non-zero size; the block is never freed (the test ends).
    let mem = unsafe { System.alloc(layout) };
    assert!(!mem.is_null());
    // SAFETY: `mem` is a fresh block of STUB_HEAP bytes nothing else uses.
    unsafe { HEAP.lock().unwrap().init(mem, STUB_HEAP) };
    HEAP_START.store(mem as usize, SeqCst);
    HEAP_END.store(mem as usize + STUB_HEAP, SeqCst);
    ON_STUB_HEAP.with(|f| f.set(true));
}

/// The engine's heap: bytes the stub heap has allocated.
fn meter() -> usize {
    HEAP.lock().unwrap_or_else(|e| e.into_inner()).used()
}

/// Sends one request as raw bytes; returns whether the engine took it
/// (it does not while the connection is flow-controlled).
fn send(w: &mut World, c: ConnId, ty: MsgType, tx: u32, payload: &[u8]) -> bool {
    let b = request(ty, 1, tx, payload);
    w.raw(c, &b).map(|n| n == b.len()).unwrap_or(false)
}

/// The replies and events queued for `c`: read and dropped, counting
/// error replies by name.
fn read_all(w: &mut World, c: ConnId, errors: &mut Vec<String>) {
    for m in w.recv_all(c) {
        if m.ty == MsgType::Error as u32 {
            let name = m.text();
            if !errors.contains(&name) {
                errors.push(name);
            }
        }
    }
}

fn kib(n: usize) -> String {
    format!("{} KiB", n / 1024)
}

/// Prints the heap now and its peak since the last phase.
fn phase(name: &str) {
    let peak = PEAK.swap(meter(), SeqCst);
    let big = BIGGEST.swap(0, SeqCst);
    println!("{name}: heap {}, peak {}, biggest allocation {big}", kib(meter()), kib(peak));
}

/// How a guest filling its quota was stopped.
#[derive(Debug, PartialEq)]
enum Stopped {
    /// Its input is flow-controlled (not read any more).
    Stalled,
    /// A write was refused with this error.
    Refused(String),
}

/// Guest `d` writes 2000-byte values under its home until refused or
/// stalled; returns how many it stored and how it was stopped.
fn fill_with_big_values(w: &mut World, d: ConnId) -> (usize, Stopped) {
    let value = vec![b'v'; 2000];
    for i in 0..2000 {
        let mut payload = format!("big{i}\0").into_bytes();
        payload.extend_from_slice(&value);
        if !send(w, d, MsgType::Write, 0, &payload) {
            return (i, Stopped::Stalled);
        }
        if let Some(m) = w.recv_all(d).into_iter().find(|m| m.ty == MsgType::Error as u32) {
            return (i, Stopped::Refused(m.text()));
        }
    }
    panic!("2000 values of 2000 bytes stored by one guest");
}

/// Stack the attacks run on: half the stub's (`boot_stack`, 64 KiB in
/// `boot/pvh.s`), in a debug build. A path walk, RM or event that recursed
/// once per component of the 998- and 1020-deep paths below would need
/// more.
const ATTACK_STACK: usize = 32 * 1024;

#[test]
fn guests_cannot_take_the_stub_heap() {
    std::thread::Builder::new()
        .stack_size(ATTACK_STACK)
        .spawn(attacks)
        .expect("a thread")
        .join()
        .expect("the attacks ran within the stack");
}

fn attacks() {
    // A failing assertion's report allocates from `System`.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        ON_STUB_HEAP.with(|f| f.set(false));
        report(info)
    }));
    start_stub_heap();
    let budget = MemoryBudget::for_heap(STUB_HEAP, meter);
    let mut w = World::with(Config { budget: Some(budget), ..Config::default() });
    let s = w.sock();
    ok(&w.write(s, "/local/domain", ""));
    let baseline = meter();
    let mut errors: Vec<String> = Vec::new();

    // The toolstack fills the whole budget with small nodes, in 600
    // directories: once the heap is at its line every request is refused,
    // but `XS_RM` outside a transaction only gives memory back and is
    // still served, so dom0 can remove what it made; removed nodes give
    // their memory back to the heap (the arena compacts).
    let small = |i: usize| format!("/small/{}/{}", i / 200, i % 200);
    let mut n = 0;
    while w.write(s, &small(n), "").text() == "OK\0" {
        n += 1;
    }
    let filled = meter();
    assert!(n > 50_000 && filled > budget.limit - 64 * 1024, "{n} nodes, {}", kib(filled));
    PEAK.store(filled, SeqCst);
    for i in (0..n).filter(|i| i % 5 != 0) {
        ok(&w.args(s, MsgType::Rm, 0, &[&small(i)]));
    }
    let fifth = meter();
    ok(&w.args(s, MsgType::Rm, 0, &["/small"]));
    let peak = PEAK.load(SeqCst);
    println!(
        "{n} small nodes: heap {}, four fifths removed {}, all {}; peak {} (limit {})",
        kib(filled),
        kib(fifth),
        kib(meter()),
        kib(peak),
        kib(budget.limit)
    );
    assert!(peak <= budget.limit + store::REQUEST_HEADROOM, "peak {}", kib(peak));
    assert!(fifth < filled / 2, "four fifths removed: {} of {}", kib(fifth), kib(filled));
    assert!(meter() <= baseline + 64 * 1024, "all removed: {}", kib(meter()));
    phase("small nodes made and removed");

    // Twelve guests with homes, as the toolstack makes them: more than
    // the budget holds at their quotas.
    let guests: Vec<(u16, ConnId)> = (1..=12)
        .map(|d| {
            let c = w.dom(d);
            let home = format!("/local/domain/{d}");
            ok(&w.write(s, &home, ""));
            ok(&w.args(s, MsgType::SetPerms, 0, &[&home, &format!("n{d}")]));
            (d, c)
        })
        .collect();
    let (_, g1) = guests[0];
    let (d3, g3) = guests[2];
    let home3 = format!("/local/domain/{d3}");
    for i in 0..127 {
        assert!(send(&mut w, g3, MsgType::Watch, 0, format!("{home3}\0t{i}\0").as_bytes()));
        ok(&w.recv_all(g3)[0]);
    }

    // 0. Small nodes are charged as C counts them (path, header, value),
    // which is more than our records take: never less than the heap.
    let (d12, g12) = guests[11];
    let (heap0, charged0) = (meter(), w.usage(d12, "memory"));
    for i in 0..300 {
        let mut payload = format!("s{i}\0").into_bytes();
        payload.extend_from_slice(b"0123456789abcdef");
        assert!(send(&mut w, g12, MsgType::Write, 0, &payload));
        ok(&w.recv_all(g12)[0]);
    }
    let grew = (meter() - heap0) as f64;
    let charged = (w.usage(d12, "memory") - charged0) as f64;
    println!(
        "guest {d12}: 300 small nodes, heap +{grew}, charged +{charged} ({:.2})",
        charged / grew
    );
    assert!(charged / grew >= 0.75, "charged {charged} vs heap {grew}");

    // 1. Transactions (as many as allowed), each with READs of missing
    // paths 1020 components deep (about 2 KiB) until the guest is
    // refused.
    let before_tx = meter();
    let mut txs = Vec::new();
    for t in 0..10 {
        let r = w.req(g1, MsgType::TransactionStart, 0, b"\0");
        if r.ty != MsgType::TransactionStart as u32 {
            println!("transaction {t}: {}", r.text());
            break;
        }
        let tx: u32 = r.text().trim_end_matches('\0').parse().unwrap();
        txs.push(tx);
        for i in 0..200 {
            let p = deep(&format!("t{t}r{i}"), 1020);
            if !send(&mut w, g1, MsgType::Read, tx, &p) {
                break;
            }
            read_all(&mut w, g1, &mut errors);
        }
    }
    let tx_heap = meter() - before_tx;
    phase("deep transaction reads");
    // What the transactions hold is charged in real bytes: the guest was
    // stopped at its share, give or take a quarter.
    let share = budget.domain_share();
    assert!(tx_heap <= share + share / 4, "transactions hold {tx_heap}, share {share}");
    println!("guest 1 errors: {errors:?}");
    assert!(errors.iter().any(|e| e == "ENOMEM\0"), "{errors:?}");
    // Ending them gives the memory back.
    for tx in txs {
        send(&mut w, g1, MsgType::TransactionEnd, tx, b"F\0");
        read_all(&mut w, g1, &mut errors);
    }
    phase("transactions ended");
    assert!(w.e.wants_input(g1), "guest 1 is served again");

    // 2. A 998-deep chain written, then removed, five times.
    for _ in 0..5 {
        let p = deep("chain", 998);
        send(&mut w, g1, MsgType::Write, 0, &p);
        read_all(&mut w, g1, &mut errors);
        send(&mut w, g1, MsgType::Rm, 0, b"chain\0");
        read_all(&mut w, g1, &mut errors);
    }
    phase("deep write + rm");

    // 3. Charged bytes follow the heap: one guest fills its quota with
    // 2000-byte values.
    let (d2, g2) = guests[1];
    let (heap0, charged0) = (meter(), w.usage(d2, "memory"));
    let (stored, stopped) = fill_with_big_values(&mut w, g2);
    println!("guest {d2} stopped: {stopped:?}");
    phase("  filled");
    let (heap1, charged1) = (meter(), w.usage(d2, "memory"));
    let (grew, charged) = ((heap1 - heap0) as f64, (charged1 - charged0) as f64);
    println!(
        "guest {d2}: {stored} values, heap +{grew} bytes, charged +{charged} bytes ({:.2})",
        charged / grew
    );
    assert!(stored > 10, "a guest can store some values");
    assert!((0.75..=1.25).contains(&(charged / grew)), "charged {charged} vs heap {grew}");

    // 4. Every other guest fills up too.
    for &(d, g) in &guests[2..] {
        let (stored, stopped) = fill_with_big_values(&mut w, g);
        println!("guest {d}: {stored} values, {stopped:?}");
        phase("  filled");
    }
    phase("all guests filled");
    let guests_max = budget.limit_for(false) + store::REQUEST_HEADROOM;
    assert!(meter() <= guests_max, "{} over {}", meter(), guests_max);

    // 5. Guest 3 (127 watches on its home) never reads its ring while
    // dom0 writes there.
    for i in 0..300 {
        ok(&w.write(s, &format!("{home3}/poke"), &format!("{i:0>1000}")));
    }
    phase("unread watch flood");
    assert!(w.e.stats().events_dropped > 0);

    // dom0 is still served, big values included.
    ok(&w.write(s, "/tool/still", &"x".repeat(4000)));
    assert_eq!(w.read(s, "/tool/still").body.len(), 4000);
    println!("errors seen by guests: {errors:?}; peak {}", kib(PEAK.load(SeqCst)));

    // Forgetting the attackers gives their memory back.
    for &(d, _) in &guests {
        w.pf.states.insert(d, DomainState::Gone);
    }
    let now = w.now;
    w.e.check_domains(now, &mut w.pf);
    phase("attackers forgotten");
    // memreport shows the heap the budget measures.
    let report = w.args(s, MsgType::Control, 0, &["memreport"]).text();
    println!("{report}");
    let line = report.lines().find(|l| l.starts_with("heap: ")).expect("a heap line");
    assert!(line.contains(&format!("limit {}", budget.limit)), "{line}");
    ok(&w.write(s, "/tool/still", ""));
    let after = meter();
    println!("baseline {} after {}", kib(baseline), kib(after));
    assert!(after <= baseline + 64 * 1024, "baseline {baseline}, after {after}");
}
