/*
 * The create/destroy loop's tiny guest (tests/boot/guest.sh): a 64-bit PV
 * kernel of a few instructions that asks Xen to power it off as soon as it
 * runs. It never touches xenstore itself; the loop exercises what the
 * toolstack and xenstore do around a guest's creation and destruction, and
 * this guest makes that cost a few milliseconds of loading instead of a
 * Linux kernel's seconds.
 *
 * Build (tests/boot/guest-run.sh does):
 *   as --64 -o tiny-pv.o tiny-pv.S
 *   ld -N -Ttext=0 -e _start --build-id=none --no-warn-rwx-segments -o tiny-pv.elf tiny-pv.o
 *
 * Facts (xen/include/public/elfnote.h, xen.h, sched.h, libelf): the domain
 * builder reads "Xen" notes from a PT_NOTE segment or, failing that, from
 * SHT_NOTE sections (ours is not loaded, so the image stays three pages
 * from address 0); the loader must be "generic" and the Xen version
 * "xen-3.0"; it maps the image at VIRT_BASE (0 here, as Mini-OS does) and
 * fills the hypercall page named by HYPERCALL_PAGE, whose entry N sits at
 * N * 32. sched_op is hypercall 29; SCHEDOP_shutdown (2) takes a pointer to
 * a 32-bit reason, SHUTDOWN_poweroff being 0.
 */

    .equ XEN_ELFNOTE_ENTRY, 1
    .equ XEN_ELFNOTE_HYPERCALL_PAGE, 2
    .equ XEN_ELFNOTE_VIRT_BASE, 3
    .equ XEN_ELFNOTE_PADDR_OFFSET, 4
    .equ XEN_ELFNOTE_XEN_VERSION, 5
    .equ XEN_ELFNOTE_GUEST_OS, 6
    .equ XEN_ELFNOTE_LOADER, 8
    .equ HYPERVISOR_sched_op, 29
    .equ SCHEDOP_yield, 0
    .equ SCHEDOP_shutdown, 2

/* One ELF note: name "Xen", type, and the description given as assembly. */
.macro xen_note type, desc:vararg
    .balign 4
    .long 4f - 3f
    .long 6f - 5f
    .long \type
3:  .asciz "Xen"
4:  .balign 4
5:  \desc
6:  .balign 4
.endm

    .section .note.xen, "", @note
    xen_note XEN_ELFNOTE_GUEST_OS, .asciz "rig-tiny"
    xen_note XEN_ELFNOTE_XEN_VERSION, .asciz "xen-3.0"
    xen_note XEN_ELFNOTE_LOADER, .asciz "generic"
    xen_note XEN_ELFNOTE_VIRT_BASE, .quad 0
    xen_note XEN_ELFNOTE_PADDR_OFFSET, .quad 0
    xen_note XEN_ELFNOTE_ENTRY, .quad _start
    xen_note XEN_ELFNOTE_HYPERCALL_PAGE, .quad hypercall_page

    .text
    .globl _start
_start:
    /* Xen enters with %rsp on a valid boot stack; use our own anyway. */
    lea stack_top(%rip), %rsp
    mov $SCHEDOP_shutdown, %edi
    lea shutdown_reason(%rip), %rsi
    call hypercall_page + HYPERVISOR_sched_op * 32
    /* Not reached once the shutdown is accepted; otherwise yield forever. */
1:  mov $SCHEDOP_yield, %edi
    xor %esi, %esi
    call hypercall_page + HYPERVISOR_sched_op * 32
    jmp 1b

    .balign 4096
hypercall_page:
    .fill 4096, 1, 0xcc

    .data
    .balign 4
shutdown_reason:
    .long 0

    .bss
    .balign 16
    .skip 4096
stack_top:
