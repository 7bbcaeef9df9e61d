/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "guest-placement.h"
#include "cpu-util.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "strv.h"
#include "testpmd.h"

int guest_nested_feature(const char *root, bool kvm, const char **ret) {
        _cleanup_(cpu_info_done) CpuInfo ci = {};
        int r;

        if (!kvm) {
                /* TCG emulates AMD's svm only; an L2 then runs on kvm_amd inside the guest. */
                *ret = "svm";
                return 0;
        }
        r = cpu_info_read(root, &ci);
        if (r < 0)
                return r;
        if (cpu_info_has_flag(&ci, "vmx"))
                *ret = "vmx";
        else if (cpu_info_has_flag(&ci, "svm"))
                *ret = "svm";
        else
                return -EOPNOTSUPP;
        return 0;
}

/* The NUMA node testpmd puts its memory on: the first vfio port's (ROOT/sys/bus/pci). */
static int testpmd_numa_node(const char *root, const TestpmdSection *s) {
        STRV_FOREACH (p, s->ports) {
                _cleanup_free_ char *rel = NULL, *path = NULL, *v = NULL;
                unsigned node;

                if (!startswith(*p, "vfio:"))
                        continue;
                rel = strjoin("/sys/bus/pci/devices/", *p + strlen("vfio:"), "/numa_node");
                path = rel ? path_prefix_root(root, rel) : NULL;
                if (path && read_one_line_file(path, &v) >= 0 && parse_unsigned(v, &node) >= 0)
                        return (int) node;
        }
        return -1;
}

static int cpu_set_merge(CPUSet *s, const CPUSet *add) {
        CPU_SET_FOREACH (c, add)
                if (cpu_set_add(s, c) < 0)
                        return -ENOMEM;
        return 0;
}

/* The forwarding CPUs j's testpmd will take when it starts. */
static int testpmd_planned_cpus(const char *root, CpuTopology *t, const JobConfig *j, CPUSet *cpus) {
        _cleanup_(cpu_set_done) CPUSet reserved = {}, isolated = {};
        _cleanup_(core_selection_done) CoreSelection sel = {};
        bool first = true;
        int r;

        if (!j->testpmd->cores.automatic) {
                /* the first CPU of Cores= is the main lcore, which does not busy-poll */
                CPU_SET_FOREACH (c, &j->testpmd->cores.cpus) {
                        if (!first && cpu_set_add(cpus, c) < 0)
                                return -ENOMEM;
                        first = false;
                }
                return 0;
        }

        /* the same choice as the supervisor's Cores=auto */
        r = testpmd_reserved_cpus(root, j, &reserved, NULL);
        if (r >= 0)
                r = cpu_isolated_read(root, &isolated);
        if (r < 0)
                return r;
        r = cpu_topology_select_cores(t,
                                      &(CoreRequest){
                                              .n_forward = j->testpmd->forward_cores,
                                              .numa_node = testpmd_numa_node(root, j->testpmd),
                                              .isolated = &isolated,
                                              .reserved = &reserved,
                                      },
                                      &sel);
        if (r == -ENOSPC)
                return 0; /* that testpmd will not start: nothing to keep off */
        if (r < 0)
                return r;
        return cpu_set_merge(cpus, &sel.forward);
}

int guest_testpmd_cpus(const char *root, CpuTopology *t, const JobConfig *j, CPUSet *ret) {
        _cleanup_(cpu_set_done) CPUSet all = {};
        _cleanup_strv_free_ char **owners = NULL;
        int r;

        r = testpmd_running_cpus(root, NULL, &all, &owners);
        if (r < 0)
                return r;
        /* a running testpmd recorded its CPUs: that is the truth, no need to guess */
        if (j->testpmd && !strv_contains(owners, j->name)) {
                r = testpmd_planned_cpus(root, t, j, &all);
                if (r < 0)
                        return r;
        }
        *ret = all;
        all = (CPUSet){};
        return 0;
}

void guest_placement_done(GuestPlacement *p) {
        cpu_set_done(&p->vcpus);
        cpu_set_done(&p->emulator);
}

int guest_placement(const char *root, CpuTopology *t, const Config *c, const JobConfig *j,
                    const GuestSection *g, unsigned index, bool kvm, GuestPlacement *ret) {
        _cleanup_(cpu_topology_freep) CpuTopology *own = NULL;
        _cleanup_(cpu_set_done) CPUSet avoid = {}, reserved = {}, isolated = {};
        _cleanup_(guest_placement_done) GuestPlacement p = {};
        int r;

        if (g->nested_virtualization) {
                r = guest_nested_feature(root, kvm, &p.nested_feature);
                if (r < 0)
                        return r;
        }
        if (!g->vcpu_pinning.automatic && !g->emulator_pinning.automatic) {
                *ret = p;
                p = (GuestPlacement){};
                return 0;
        }

        if (!t) {
                r = cpu_topology_load(NULL, &own);
                if (r < 0)
                        return r;
                t = own;
        }
        r = guest_testpmd_cpus(root, t, j, &avoid);
        if (r >= 0)
                r = cpu_isolated_read(root, &isolated);
        if (r < 0)
                return r;

        /* vCPUs pinned by hand on this host are nobody else's */
        for (size_t i = 0; i < j->n_guests; i++)
                if (guest_on_host(c, j->guests[i], c->host_name) &&
                    cpu_set_merge(&reserved, &j->guests[i]->vcpu_pinning.cpus) < 0)
                        return -ENOMEM;

        /* Place every automatic guest before this one, in the job's order, as it will be. */
        for (size_t i = 0; i < j->n_guests; i++) {
                const GuestSection *x = j->guests[i];
                GuestHugePages h;

                if (!guest_on_host(c, x, c->host_name) ||
                    (!x->vcpu_pinning.automatic && !(x == g && x->emulator_pinning.automatic)))
                        continue;
                for (unsigned k = 0; k < x->count; k++) {
                        _cleanup_(guest_cpu_selection_done) GuestCpuSelection sel = {};
                        bool me = x == g && k == index;

                        r = cpu_topology_select_guest_cpus(
                                t,
                                &(GuestCpuRequest){
                                        .n_vcpus = x->vcpu_pinning.automatic ? x->vcpus : 0,
                                        .emulator = me && x->emulator_pinning.automatic,
                                        .numa_node =
                                                x->hugepages && guest_hugepages(j, x, &h) >= 0 ? h.node : -1,
                                        .isolated = &isolated,
                                        .avoid = &avoid,
                                        .reserved = &reserved,
                                },
                                &sel);
                        if (r == -ENOSPC && !me)
                                continue; /* that one will not start: its CPUs stay free */
                        if (r < 0)
                                return r;
                        if (me) {
                                p.vcpus = sel.vcpus;
                                p.emulator = sel.emulator;
                                p.housekeeping = sel.housekeeping;
                                sel.vcpus = sel.emulator = (CPUSet){};
                                *ret = p;
                                p = (GuestPlacement){};
                                return 0;
                        }
                        if (cpu_set_merge(&reserved, &sel.vcpus) < 0)
                                return -ENOMEM;
                }
        }
        return -ENXIO; /* g is not a guest of j on this host */
}
