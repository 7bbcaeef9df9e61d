/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* minimal KVM_RUN smoke test: one VM, one vCPU in real mode, code = "mov $0x2a,%al; out %al,$0x10; hlt" */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <errno.h>
#define DIE(m) do { fprintf(stderr, "kvmtest: %s: %s\n", m, strerror(errno)); return 1; } while (0)
int main(void) {
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) DIE("open /dev/kvm");
    printf("kvmtest: KVM_GET_API_VERSION=%d\n", ioctl(kvm, KVM_GET_API_VERSION, 0));
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) DIE("KVM_CREATE_VM");
    const uint8_t code[] = { 0xb0, 0x2a, 0xe6, 0x10, 0xf4 }; /* mov al,42; out 0x10,al; hlt */
    uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) DIE("mmap");
    memcpy(mem, code, sizeof code);
    struct kvm_userspace_memory_region r = { .slot = 0, .guest_phys_addr = 0x1000,
        .memory_size = 0x1000, .userspace_addr = (uint64_t)(uintptr_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) DIE("KVM_SET_USER_MEMORY_REGION");
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) DIE("KVM_CREATE_VCPU");
    int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) DIE("mmap vcpu");
    struct kvm_sregs s;
    if (ioctl(vcpu, KVM_GET_SREGS, &s) < 0) DIE("KVM_GET_SREGS");
    s.cs.base = 0; s.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &s) < 0) DIE("KVM_SET_SREGS");
    struct kvm_regs g = { .rip = 0x1000, .rflags = 0x2 };
    if (ioctl(vcpu, KVM_SET_REGS, &g) < 0) DIE("KVM_SET_REGS");
    for (int i = 0; i < 10; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) DIE("KVM_RUN");
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            printf("kvmtest: KVM_EXIT_IO port=0x%x value=%d\n", run->io.port,
                   *((uint8_t *)run + run->io.data_offset));
            break;
        case KVM_EXIT_HLT:
            printf("kvmtest: KVM_EXIT_HLT reached (L2 ran) - OK\n");
            return 0;
        default:
            printf("kvmtest: unexpected exit_reason=%u\n", run->exit_reason);
            return 1;
        }
    }
    printf("kvmtest: no HLT after 10 exits\n");
    return 1;
}
