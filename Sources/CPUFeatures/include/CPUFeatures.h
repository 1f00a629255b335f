// CPUID and XGETBV for ISA dispatch (Tensor/ISA.swift). On non-x86 CPUs every function reports
// nothing, so only the generic path is ever chosen.
#ifndef ABLATE_CPU_FEATURES_H
#define ABLATE_CPU_FEATURES_H
#include <stdint.h>

/// CPUID(leaf, subleaf) into regs[0..3] = eax, ebx, ecx, edx. Returns 0 when the leaf is above
/// the CPU's maximum (regs are then zero), 1 otherwise.
int ablate_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

/// XCR0 (the register states the OS saves and restores), or 0 when the OS has not enabled
/// XSAVE (CPUID.1:ECX.OSXSAVE clear) — then XGETBV itself would fault and is not executed.
uint64_t ablate_xcr0(void);

/// One PAUSE (x86, part of SSE2): tells the core a spin-wait is in progress, so a spinning
/// worker yields pipeline resources and power. A no-op elsewhere.
void ablate_cpu_relax(void);

/// glibc only: raises the mmap and trim thresholds so freed buffers stay mapped in the process
/// for reuse (Tensor `Allocator.keepFreedMemory`). Returns 1 when both settings took, else 0
/// (and does nothing on other C libraries).
int ablate_keep_freed_memory(void);

#endif
