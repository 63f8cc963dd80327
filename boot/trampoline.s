/*
 * Live update: the last code the old kernel runs (kernel/src/arch/x86_64/handover/).
 *
 * `handover::jump` copies the bytes between `lu_trampoline_start` and
 * `lu_trampoline_end` to TRAMP_BASE, a page below 1 MiB that neither
 * image uses, writes the parameters at TRAMP_PARAMS and jumps there in
 * long mode, interrupts off, on the identity-mapped boot page tables.
 * From then on nothing of the old image is used: its page tables, GDT
 * and stack are about to be overwritten.
 *
 * Here: load a GDT of our own (flat 32-bit code and data), drop to
 * compatibility mode, turn paging off (which leaves long mode) and
 * EFER.LME, make the copies (memmove: backwards, a byte at a time, when
 * the destination is above the source; forwards by four bytes
 * otherwise: QEMU's TCG copies a byte per iteration, and the image is
 * half a megabyte), then enter the new kernel as Xen enters a PVH
 * kernel (docs/misc/pvh.pandoc): 32-bit protected mode, flat segments,
 * paging off, %ebx = the start info's physical address.
 *
 * Parameters (32-bit words at TRAMP_PARAMS): entry, start info, number
 * of copies, pad, then per copy: destination, source, length, pad.
 * The code is position dependent on TRAMP_BASE: addresses inside it are
 * TRAMP_BASE plus their offset from lu_trampoline_start.
 */

.equ TRAMP_BASE, 0x8000
.equ TRAMP_PARAMS, TRAMP_BASE + 0x800
.equ MSR_EFER, 0xc0000080
.equ EFER_LME, (1 << 8)

.pushsection .text.trampoline, "ax"
.global lu_trampoline_start
.global lu_trampoline_end
.code64
lu_trampoline_start:
    lgdt (TRAMP_BASE + (lu_tramp_gdt_ptr - lu_trampoline_start))
    pushq $0x08
    pushq $(TRAMP_BASE + (lu_tramp_32 - lu_trampoline_start))
    lretq

.code32
lu_tramp_32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    /* Paging off: compatibility mode becomes legacy protected mode. */
    mov %cr0, %eax
    and $0x7fffffff, %eax
    mov %eax, %cr0
    mov $MSR_EFER, %ecx
    rdmsr
    and $~EFER_LME, %eax
    wrmsr

    mov $(TRAMP_PARAMS + 16), %ebp
    mov (TRAMP_PARAMS + 8), %edx
1:  test %edx, %edx
    jz 4f
    mov 0(%ebp), %edi
    mov 4(%ebp), %esi
    mov 8(%ebp), %ecx
    cmp %esi, %edi
    jb 2f
    /* Destination above the source: copy from the end down. */
    lea -1(%esi, %ecx), %esi
    lea -1(%edi, %ecx), %edi
    std
    rep movsb
    cld
    jmp 3f
    /*
     * Source above the destination: forward, four bytes at a time (each
     * is read before the write that follows it), then the last few.
     */
2:  cld
    mov %ecx, %eax
    shr $2, %ecx
    rep movsl
    mov %eax, %ecx
    and $3, %ecx
    rep movsb
3:  add $16, %ebp
    dec %edx
    jmp 1b

4:  mov (TRAMP_PARAMS + 4), %ebx
    mov (TRAMP_PARAMS + 0), %eax
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %esp, %esp
    jmp *%eax

    .balign 8
lu_tramp_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit code, flat */
    .quad 0x00cf92000000ffff    /* 0x10: data, flat */
lu_tramp_gdt_end:
lu_tramp_gdt_ptr:
    .word lu_tramp_gdt_end - lu_tramp_gdt - 1
    .quad TRAMP_BASE + (lu_tramp_gdt - lu_trampoline_start)
lu_trampoline_end:
/* Back to 64-bit for whatever assembly follows in this unit. */
.code64
.popsection
