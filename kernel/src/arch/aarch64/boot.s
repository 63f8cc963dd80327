// Entry of the Arm64 stub image (Xen on Arm, a dom0less domain).
//
// Xen loads the image at the first RAM bank plus `text_offset` (0 here,
// 0x40000000 for a dom0less domain) after checking the Linux arm64 Image
// header's magic, and enters its first byte at EL1h with DAIF masked, the
// MMU off and the device tree's address in x0 (Linux's arm64 boot
// protocol, `xen/arch/arm/kernel.c`). This code reads the virtual counter
// (the entry stamp), enables FP/SIMD, installs the exception vectors,
// builds an identity map (Normal write-back memory everywhere except the
// first 896 MiB, device space), turns the MMU and caches on, clears .bss,
// sets the stack and calls `kernel_main(dtb, entry_counter)`.

    .section .text.boot, "ax"
    .global _start
_start:
    // The Image header (64 bytes; Documentation/arm64/booting.rst).
    b       arm64_entry             // code0
    .long   0                       // code1
    .quad   0                       // text_offset
    .quad   __image_bytes           // image_size, .bss included
    .quad   0xa                     // flags: little endian, 4K pages, anywhere
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .long   0x644d5241              // magic "ARM\x64"
    .long   0                       // res5

arm64_entry:
    mrs     x19, cntvct_el0         // the entry stamp
    mov     x20, x0                 // the device tree

    // FP/SIMD at EL1 and EL0 (CPACR_EL1.FPEN = 0b11): Rust uses the
    // vector registers for copies.
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    adrp    x1, arm64_vectors
    add     x1, x1, :lo12:arm64_vectors
    msr     vbar_el1, x1
    isb

    // Level 2 table for the first GiB: 2 MiB blocks, device memory below
    // 0x38000000 (the guest's MMIO: GIC, PL011), Normal memory from the
    // grant-table region on.
    adrp    x1, boot_l2
    add     x1, x1, :lo12:boot_l2
    ldr     x2, =0x0060000000000401 // block, AttrIndx 0 (device), AF, PXN, UXN
    ldr     x3, =0x0000000000000705 // block, AttrIndx 1 (normal), inner shareable, AF
    mov     x4, #0                  // entry index
1:  lsl     x5, x4, #21
    cmp     x4, #448                // 0x38000000 >> 21
    csel    x6, x2, x3, lo
    orr     x5, x5, x6
    str     x5, [x1, x4, lsl #3]
    add     x4, x4, #1
    cmp     x4, #512
    b.lo    1b

    // Level 1 table: entry 0 → the level 2 table, entries 1..511 → 1 GiB
    // Normal blocks (the 39-bit space: RAM, extended regions).
    adrp    x7, boot_l1
    add     x7, x7, :lo12:boot_l1
    orr     x5, x1, #3              // table descriptor
    str     x5, [x7]
    mov     x4, #1
2:  lsl     x5, x4, #30
    orr     x5, x5, x3
    str     x5, [x7, x4, lsl #3]
    add     x4, x4, #1
    cmp     x4, #512
    b.lo    2b

    // The tables were written with the caches off: drop any stale line
    // of them before the walker reads them through the caches.
    mov     x4, x7
    add     x5, x7, #(2 * 4096)
3:  dc      ivac, x4
    add     x4, x4, #64
    cmp     x4, x5
    b.lo    3b
    dsb     sy

    // MAIR: attr0 Device-nGnRnE, attr1 Normal write-back. TCR: T0SZ 25
    // (39-bit VA, walks start at level 1), write-back inner shareable
    // walks, 4K granule, no TTBR1 walks, 40-bit IPA.
    ldr     x1, =0xff00
    msr     mair_el1, x1
    ldr     x1, =0x200803519
    msr     tcr_el1, x1
    msr     ttbr0_el1, x7
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x1, sctlr_el1
    orr     x1, x1, #(1 << 0)       // M
    orr     x1, x1, #(1 << 2)       // C
    orr     x1, x1, #(1 << 12)      // I
    bic     x1, x1, #(1 << 1)       // no alignment checks
    msr     sctlr_el1, x1
    isb

    // Clear .bss (the stack is in it).
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
4:  cmp     x1, x2
    b.hs    5f
    stp     xzr, xzr, [x1], #16
    b       4b
5:
    adrp    x1, boot_stack_top
    add     x1, x1, :lo12:boot_stack_top
    mov     sp, x1
    mov     x0, x20
    mov     x1, x19
    bl      kernel_main
6:  wfi
    b       6b

// Exception vectors: every kind reports itself and crashes the domain
// (`arm64_exception`); the stub runs with interrupts masked, so none is
// expected.
    .balign 2048
arm64_vectors:
    .irp    kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .balign 128
    mov     x0, #\kind
    b       arm64_vector_common
    .endr
arm64_vector_common:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      arm64_exception
7:  wfi
    b       7b

    .section .bss.boot, "aw", @nobits
    .balign 16
boot_stack:
    .space  65536
boot_stack_top:

    .section .pagetables, "aw", @nobits
    .balign 4096
boot_l1:
    .space  4096
boot_l2:
    .space  4096
