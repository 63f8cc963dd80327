//! The interrupt descriptor table: CPU exceptions print where they happened
//! and crash the domain; the event-channel callback vector wakes the idle
//! loop.
//!
//! Event delivery (xen-abi §3.4): with `HVM_PARAM_CALLBACK_IRQ = (2 << 56) |
//! vector`, Xen injects `vector` whenever vCPU 0's `evtchn_upcall_pending` is
//! set and interrupts are enabled; no LAPIC EOI is needed, but the handler
//! must clear `evtchn_upcall_pending` or the vector is injected again at
//! once. The kernel runs with interrupts disabled except inside `sti; hlt`,
//! so the handler only clears the flag; the main loop does the work.

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::hvm::{HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_VECTOR};
use crate::xen::{self, Errno};

/// The IDT vector of the event-channel upcall.
pub const UPCALL_VECTOR: u8 = 0xf3;
/// Number of CPU exception vectors.
const EXCEPTIONS: usize = 32;
/// The kernel code segment selector (boot GDT).
const KERNEL_CS: u16 = 0x08;
/// Present, DPL 0, 64-bit interrupt gate.
const GATE_INTERRUPT: u8 = 0x8e;

/// Address of vCPU 0's `evtchn_upcall_pending`, read by the upcall stub.
#[no_mangle]
static UPCALL_PENDING_ADDR: AtomicUsize = AtomicUsize::new(0);

// Exception stubs push a zero error code where the CPU pushes none, then
// the vector, so `exception_common` always sees the same frame:
// [vector, error, rip, cs, rflags, rsp, ss].
global_asm!(
    r#"
.pushsection .text.idt, "ax"
.macro exc_stub vec, has_err
exc_stub_\vec:
    .if \has_err == 0
    push $0
    .endif
    push $\vec
    jmp exception_common
.endm
exc_stub 0, 0
exc_stub 1, 0
exc_stub 2, 0
exc_stub 3, 0
exc_stub 4, 0
exc_stub 5, 0
exc_stub 6, 0
exc_stub 7, 0
exc_stub 8, 1
exc_stub 9, 0
exc_stub 10, 1
exc_stub 11, 1
exc_stub 12, 1
exc_stub 13, 1
exc_stub 14, 1
exc_stub 15, 0
exc_stub 16, 0
exc_stub 17, 1
exc_stub 18, 0
exc_stub 19, 0
exc_stub 20, 0
exc_stub 21, 1
exc_stub 22, 0
exc_stub 23, 0
exc_stub 24, 0
exc_stub 25, 0
exc_stub 26, 0
exc_stub 27, 0
exc_stub 28, 0
exc_stub 29, 1
exc_stub 30, 1
exc_stub 31, 0
exception_common:
    mov %rsp, %rdi
    and $-16, %rsp
    call kernel_exception
1:  hlt
    jmp 1b

.global upcall_entry
upcall_entry:
    push %rax
    mov UPCALL_PENDING_ADDR(%rip), %rax
    movb $0, (%rax)
    pop %rax
    iretq
.popsection

.pushsection .data.rel.ro.idt, "aw"
.balign 8
.global exception_stub_table
exception_stub_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exc_stub_\n
    .endr
.popsection
"#,
    options(att_syntax)
);

extern "C" {
    static exception_stub_table: [u64; EXCEPTIONS];
    fn upcall_entry();
}

/// One 64-bit IDT gate.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}
const _: () = assert!(core::mem::size_of::<Gate>() == 16);

impl Gate {
    #[allow(clippy::cast_possible_truncation)] // Splitting the address into the gate's fields.
    fn new(handler: u64) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: KERNEL_CS,
            ist: 0,
            attr: GATE_INTERRUPT,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// The IDT (256 gates).
static IDT: spin::Once<[Gate; 256]> = spin::Once::new();

/// The `lidt` operand.
#[repr(C, packed)]
struct IdtPointer {
    limit: u16,
    base: u64,
}

/// Builds and loads the IDT. `upcall_pending_addr` is the address of vCPU
/// 0's `evtchn_upcall_pending` byte in the mapped shared info.
pub fn init(upcall_pending_addr: usize) {
    UPCALL_PENDING_ADDR.store(upcall_pending_addr, Ordering::Release);
    let idt = IDT.call_once(|| {
        let mut idt = [Gate::default(); 256];
        // SAFETY: the table is immutable data defined in the asm above.
        let stubs = unsafe { &*core::ptr::addr_of!(exception_stub_table) };
        for (gate, &stub) in idt.iter_mut().zip(stubs.iter()) {
            *gate = Gate::new(stub);
        }
        if let Some(g) = idt.get_mut(usize::from(UPCALL_VECTOR)) {
            *g = Gate::new(upcall_entry as *const () as u64);
        }
        idt
    });
    let ptr = IdtPointer {
        limit: u16::try_from(core::mem::size_of_val(idt).saturating_sub(1)).unwrap_or(u16::MAX),
        base: idt.as_ptr() as u64,
    };
    #[cfg(target_os = "none")]
    // SAFETY: `ptr` describes a static IDT whose gates point at the stubs
    // above, in the kernel code segment of the boot GDT.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack))
    };
    #[cfg(not(target_os = "none"))]
    let _ = ptr;
}

/// Routes event upcalls to [`UPCALL_VECTOR`].
pub fn enable_upcall() -> Result<(), Errno> {
    xen::hvm_set_param(
        HVM_PARAM_CALLBACK_IRQ,
        HVM_PARAM_CALLBACK_TYPE_VECTOR << 56 | u64::from(UPCALL_VECTOR),
    )
}

/// The frame `exception_common` passes.
#[repr(C)]
pub struct ExceptionFrame {
    vector: u64,
    error: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// Called by the exception stubs: reports the fault and crashes the domain.
#[no_mangle]
extern "C" fn kernel_exception(frame: *const ExceptionFrame) -> ! {
    // SAFETY: the stub passes its stack pointer, where the frame was pushed.
    let f = unsafe { &*frame };
    crate::console::write_line_now(format_args!(
        "FATAL: CPU exception {} error {:#x} at rip {:#x} rsp {:#x} cr2 {:#x}",
        f.vector,
        f.error,
        f.rip,
        f.rsp,
        super::cpu::read_cr2()
    ));
    xen::shutdown(crate::abi::sched::SHUTDOWN_CRASH)
}
