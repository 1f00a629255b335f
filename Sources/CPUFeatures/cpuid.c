#include "CPUFeatures.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int ablate_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    memset(regs, 0, 4 * sizeof(uint32_t));
    uint32_t maxLeaf = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (maxLeaf == 0 || leaf > maxLeaf) return 0;
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
    return 1;
}

uint64_t ablate_xcr0(void) {
    uint32_t r[4];
    if (!ablate_cpuid(1, 0, r) || !(r[2] & (1u << 27))) return 0;
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void ablate_cpu_relax(void) { __builtin_ia32_pause(); }
#else
int ablate_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    (void)leaf; (void)subleaf;
    memset(regs, 0, 4 * sizeof(uint32_t));
    return 0;
}
uint64_t ablate_xcr0(void) { return 0; }
void ablate_cpu_relax(void) {}
#endif

#if defined(__GLIBC__)
#include <malloc.h>
int ablate_keep_freed_memory(void) {
    // 32 MiB is glibc's largest mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit).
    int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ok &= mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
    return ok;
}
#else
int ablate_keep_freed_memory(void) { return 0; }
#endif
