/*
 * PVH entry of the xenstore stub domain.
 *
 * Entry state (docs/misc/pvh.pandoc; Xen ELF note 18, XEN_ELFNOTE_PHYS32_ENTRY,
 * names `pvh_start32`):
 *   - 32-bit protected mode, flat 4 GiB code and data segments, paging off,
 *     CR4 = 0, EFER = 0, interrupts disabled;
 *   - %ebx = guest-physical address of `struct hvm_start_info`;
 *   - the stack pointer, GDT and IDT are unspecified.
 *
 * What this file does, in order: records the TSC (boot time zero), clears
 * .bss, builds identity page tables for the low 4 GiB with 2 MiB pages, turns
 * on PAE + SSE, long mode and paging, loads a 64-bit GDT, switches to the
 * boot stack and calls `kernel_main(start_info_paddr, boot_tsc)`.
 *
 * CR0, CR4 and EFER reads and writes trap to Xen, which decodes and
 * emulates them (on QEMU's TCG rig, measured from the stub's TSC: 0.4 ms
 * for EFER, 1.4 to 13 ms for each CR write), so no register is read and
 * each is written once: CR4 with PAE and the SSE bits, CR0 with paging
 * and the FPU bits, before the jump to 64-bit code.
 *
 * The image is linked at its physical load address (linker.ld), so every
 * address here is both virtual and physical.
 */

.equ CR0_PE, (1 << 0)
.equ CR0_MP, (1 << 1)
.equ CR0_WP, (1 << 16)
.equ CR0_PG, (1 << 31)
.equ CR4_PAE, (1 << 5)
.equ CR4_OSFXSR, (1 << 9)
.equ CR4_OSXMMEXCPT, (1 << 10)
.equ MSR_EFER, 0xc0000080
.equ EFER_LME, (1 << 8)
.equ PTE_PRESENT, (1 << 0)
.equ PTE_WRITE, (1 << 1)
.equ PTE_LARGE, (1 << 7)

/* The PVH entry note: name "Xen", type 18, a 4-byte physical address. */
.pushsection .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .balign 4
    .long pvh_start32
    .balign 4
    /* XEN_ELFNOTE_GUEST_OS (6): informational for PVH. */
    .long 4, 2f - 1f, 6
    .asciz "Xen"
1:  .asciz "xenstore-stubdom-rs"
2:  .balign 4
    /* XEN_ELFNOTE_XEN_VERSION (5): checked only for PV images. */
    .long 4, 2f - 1f, 5
    .asciz "Xen"
1:  .asciz "xen-3.0"
2:  .balign 4
    /* XEN_ELFNOTE_LOADER (8): checked only for PV images. */
    .long 4, 2f - 1f, 8
    .asciz "Xen"
1:  .asciz "generic"
2:  .balign 4
.popsection

.pushsection .text.boot, "ax"
.code32
.global pvh_start32
pvh_start32:
    cld
    /* Boot time zero: the TSC at entry, read before anything else. */
    mov %ebx, %esi
    rdtsc
    mov %eax, boot_tsc
    mov %edx, boot_tsc + 4

    /* Clear .bss (which also holds the page tables and the stack). */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    /* PML4[0] -> PDPT; PDPT[0..4] -> four page directories. */
    mov $boot_pdpt, %eax
    or $(PTE_PRESENT | PTE_WRITE), %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $(PTE_PRESENT | PTE_WRITE), %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pdpt(, %ecx, 8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 1b

    /* 2048 PD entries of 2 MiB each: identity map of 0..4 GiB. */
    mov $(PTE_PRESENT | PTE_WRITE | PTE_LARGE), %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pd(, %ecx, 8)
    add $(1 << 21), %eax
    inc %ecx
    cmp $2048, %ecx
    jne 1b

    /*
     * Long mode: PAE (and SSE: the OS saves FXSR state, SIMD exceptions
     * are reported), CR3, EFER.LME, then paging (and no x87 emulation,
     * monitor coprocessor). Each register gets a whole value, not a
     * read-modify-write: the entry state has CR0 = PE and CR4 = 0
     * (pvh.pandoc), and only EFER.LME matters here.
     */
    mov $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    mov $EFER_LME, %eax
    xor %edx, %edx
    wrmsr
    mov $(CR0_PG | CR0_WP | CR0_MP | CR0_PE), %eax
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $long_mode_entry

.code64
long_mode_entry:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs

    lea boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %esi, %edi
    mov boot_tsc(%rip), %rsi
    call kernel_main
    /* kernel_main never returns; stop here if it ever does. */
2:  ud2
    jmp 2b
.popsection

.pushsection .rodata.boot, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, DPL 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, DPL 0 */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt
.popsection

/*
 * The entry TSC lives in .data, not .bss: it is written before .bss is
 * cleared (in .bss it read 0, and the boot time was counted from whenever
 * the TSC was 0).
 */
.pushsection .data.boot, "aw"
    .balign 8
boot_tsc:
    .quad 0
.popsection

.pushsection .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
boot_stack:
    .skip 64 * 1024
boot_stack_top:

/*
 * The hypercall page: Xen writes one 32-byte stub per hypercall here when
 * the kernel writes this page's address to the MSR named by CPUID.
 */
    .balign 4096
.global hypercall_page
hypercall_page:
    .skip 4096
.popsection
