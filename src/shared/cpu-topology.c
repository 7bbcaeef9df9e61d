/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <hwloc.h>
#include "cpu-topology.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(hwloc_bitmap_t, hwloc_bitmap_free);

struct CpuTopology {
        hwloc_topology_t topology;
};

static int topology_load(const char *xml_path, const char *synthetic, CpuTopology **ret) {
        _cleanup_(cpu_topology_freep) CpuTopology *t = calloc(1, sizeof(CpuTopology));

        if (!t)
                return -ENOMEM;
        if (hwloc_topology_init(&t->topology) < 0) {
                free(TAKE_PTR(t));
                return -ENOMEM;
        }
        if (xml_path && hwloc_topology_set_xml(t->topology, xml_path) < 0)
                return -errno ?: -EINVAL;
        if (synthetic && hwloc_topology_set_synthetic(t->topology, synthetic) < 0)
                return -EINVAL;
        if (hwloc_topology_load(t->topology) < 0)
                return -errno ?: -EIO;
        *ret = TAKE_PTR(t);
        return 0;
}

int cpu_topology_load(const char *xml_path, CpuTopology **ret) {
        return topology_load(xml_path, NULL, ret);
}

int cpu_topology_load_synthetic(const char *description, CpuTopology **ret) {
        return topology_load(NULL, description, ret);
}

void cpu_topology_free(CpuTopology *t) {
        if (!t)
                return;
        if (t->topology)
                hwloc_topology_destroy(t->topology);
        free(t);
}

static int cpu_set_from_bitmap(hwloc_const_bitmap_t b, CPUSet *ret) {
        CPUSet s = {};
        int i, r;

        hwloc_bitmap_foreach_begin(i, b) {
                r = cpu_set_add(&s, i);
                if (r < 0) {
                        cpu_set_done(&s);
                        return r;
                }
        }
        hwloc_bitmap_foreach_end();
        *ret = s;
        return 0;
}

int cpu_topology_all(CpuTopology *t, CPUSet *ret) {
        return cpu_set_from_bitmap(hwloc_topology_get_complete_cpuset(t->topology), ret);
}

int cpu_topology_usable(CpuTopology *t, CPUSet *ret) {
        _cleanup_(hwloc_bitmap_freep) hwloc_bitmap_t b = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(t->topology));

        if (!b)
                return -ENOMEM;
        /* the topology cpuset lists online CPUs; allowed removes what our cgroup forbids */
        hwloc_bitmap_and(b, b, hwloc_topology_get_allowed_cpuset(t->topology));
        return cpu_set_from_bitmap(b, ret);
}

unsigned cpu_topology_n_numa_nodes(CpuTopology *t) {
        int n = hwloc_get_nbobjs_by_type(t->topology, HWLOC_OBJ_NUMANODE);
        return n > 0 ? (unsigned) n : 1;
}

int cpu_topology_cpu_node(CpuTopology *t, unsigned cpu) {
        hwloc_obj_t node = NULL;

        while ((node = hwloc_get_next_obj_by_type(t->topology, HWLOC_OBJ_NUMANODE, node)))
                if (node->cpuset && hwloc_bitmap_isset(node->cpuset, cpu))
                        return (int) node->os_index;
        return -1;
}

static hwloc_const_bitmap_t core_cpuset_of(CpuTopology *t, unsigned cpu) {
        hwloc_obj_t pu = hwloc_get_pu_obj_by_os_index(t->topology, cpu), core;

        if (!pu)
                return NULL;
        core = hwloc_get_ancestor_obj_by_type(t->topology, HWLOC_OBJ_CORE, pu);
        return core ? core->cpuset : pu->cpuset;
}

int cpu_topology_siblings(CpuTopology *t, unsigned cpu, CPUSet *ret) {
        hwloc_const_bitmap_t b = core_cpuset_of(t, cpu);

        if (!b)
                return -ENXIO;
        return cpu_set_from_bitmap(b, ret);
}

void core_selection_done(CoreSelection *s) {
        cpu_set_done(&s->forward);
        cpu_set_done(&s->held);
}

static bool bitmap_intersects_set(hwloc_const_bitmap_t b, const CPUSet *s) {
        int i;

        if (!s)
                return false;
        hwloc_bitmap_foreach_begin(i, b) {
                if (cpu_set_isset(s, i))
                        return true;
        }
        hwloc_bitmap_foreach_end();
        return false;
}

static bool bitmap_within_set(hwloc_const_bitmap_t b, const CPUSet *s) {
        int i;

        hwloc_bitmap_foreach_begin(i, b) {
                if (!cpu_set_isset(s, i))
                        return false;
        }
        hwloc_bitmap_foreach_end();
        return true;
}

/* The CPUs of a NUMA node, or all when node is -1 or unknown. */
static void node_cpus(CpuTopology *t, int numa_node, hwloc_bitmap_t ret) {
        hwloc_obj_t node = numa_node >= 0 ? hwloc_get_numanode_obj_by_os_index(t->topology, numa_node) : NULL;

        hwloc_bitmap_zero(ret);
        if (node && node->cpuset)
                hwloc_bitmap_copy(ret, node->cpuset);
        if (hwloc_bitmap_iszero(ret))
                hwloc_bitmap_copy(ret, hwloc_topology_get_topology_cpuset(t->topology));
}

/* The core of CPU 0, and everything usable outside isolcpus= when the admin isolated CPUs. */
static int housekeeping_cpus(CpuTopology *t, const CPUSet *usable, const CPUSet *isolated, CPUSet *ret) {
        hwloc_const_bitmap_t cpu0_core = core_cpuset_of(t, 0);
        CPUSet s = {};
        int r;

        r = cpu0_core ? cpu_set_from_bitmap(cpu0_core, &s) : cpu_set_add(&s, 0);
        if (r < 0)
                return r;
        if (isolated && cpu_set_count(isolated) > 0)
                CPU_SET_FOREACH(c, usable)
                        if (!cpu_set_isset(isolated, c) && (r = cpu_set_add(&s, c)) < 0) {
                                cpu_set_done(&s);
                                return r;
                        }
        *ret = s;
        return 0;
}

int cpu_topology_select_cores(CpuTopology *t, const CoreRequest *req, CoreSelection *ret) {
        _cleanup_(cpu_set_done) CPUSet usable = {}, housekeeping = {}, forward = {}, held = {};
        _cleanup_(hwloc_bitmap_freep) hwloc_bitmap_t node_set = hwloc_bitmap_alloc();
        bool remote = false;
        unsigned n = 0;
        int main_lcore = -1, r;

        if (!node_set)
                return -ENOMEM;
        if (req->n_forward == 0)
                return -EINVAL;
        r = cpu_topology_usable(t, &usable);
        if (r < 0)
                return r;

        /* Housekeeping CPUs run the kernel's and everyone's odd jobs: the core of CPU 0, and
         * everything outside isolcpus= when the admin isolated CPUs for dataplanes. */
        r = housekeeping_cpus(t, &usable, req->isolated, &housekeeping);
        if (r < 0)
                return r;

        node_cpus(t, req->numa_node, node_set);

        for (int pass = 0; pass < 2 && n < req->n_forward; pass++) {
                hwloc_obj_t core = NULL;

                while (n < req->n_forward && (core = hwloc_get_next_obj_by_type(t->topology, HWLOC_OBJ_CORE, core))) {
                        bool local = hwloc_bitmap_isincluded(core->cpuset, node_set);
                        int cpu;

                        if (local != (pass == 0))
                                continue;
                        if (hwloc_bitmap_iszero(core->cpuset) || !bitmap_within_set(core->cpuset, &usable) ||
                            bitmap_intersects_set(core->cpuset, &housekeeping) ||
                            bitmap_intersects_set(core->cpuset, req->reserved))
                                continue;
                        if (pass == 1)
                                remote = true;
                        hwloc_bitmap_foreach_begin(cpu, core->cpuset) {
                                r = cpu_set_add(n < req->n_forward ? &forward : &held, cpu);
                                if (r < 0)
                                        return r;
                                if (cpu_set_isset(&forward, cpu))
                                        n++;
                        }
                        hwloc_bitmap_foreach_end();
                }
        }
        if (n < req->n_forward)
                return -ENOSPC;

        /* The main lcore only runs testpmd's prompt and the telemetry thread: a housekeeping
         * CPU, preferably one nobody reserved and on the NICs' node. */
        for (int pass = 0; pass < 3 && main_lcore < 0; pass++)
                CPU_SET_FOREACH(c, &housekeeping) {
                        if (!cpu_set_isset(&usable, c))
                                continue;
                        if (pass < 2 && req->reserved && cpu_set_isset(req->reserved, c))
                                continue;
                        if (pass == 0 && !hwloc_bitmap_isset(node_set, c))
                                continue;
                        main_lcore = c;
                        break;
                }
        if (main_lcore < 0)
                CPU_SET_FOREACH(c, &usable)
                        if (!cpu_set_isset(&forward, c) && !cpu_set_isset(&held, c)) {
                                main_lcore = c;
                                break;
                        }
        if (main_lcore < 0)
                return -ENOSPC;

        *ret = (CoreSelection) {
                .main_lcore = main_lcore,
                .forward = forward,
                .held = held,
                .remote = remote,
        };
        forward = held = (CPUSet) {};
        return 0;
}

/* Whether an optional set holds cpu. */
static bool optional_set_has(const CPUSet *s, int cpu) {
        return s && cpu_set_isset(s, cpu);
}

void guest_cpu_selection_done(GuestCpuSelection *s) {
        cpu_set_done(&s->vcpus);
        cpu_set_done(&s->emulator);
}

int cpu_topology_select_guest_cpus(CpuTopology *t, const GuestCpuRequest *req, GuestCpuSelection *ret) {
        _cleanup_(cpu_set_done) CPUSet usable = {}, housekeeping = {}, avoid = {}, vcpus = {}, emulator = {};
        _cleanup_(hwloc_bitmap_freep) hwloc_bitmap_t node_set = hwloc_bitmap_alloc();
        bool on_housekeeping = false;
        unsigned n = 0;
        int r;

        if (!node_set)
                return -ENOMEM;
        r = cpu_topology_usable(t, &usable);
        if (r >= 0)
                r = housekeeping_cpus(t, &usable, req->isolated, &housekeeping);
        if (r < 0)
                return r;
        /* A forwarding CPU busy-polls; a vCPU on its HT sibling would halve both. */
        if (req->avoid)
                CPU_SET_FOREACH(c, req->avoid) {
                        hwloc_const_bitmap_t core = core_cpuset_of(t, c);
                        int k;

                        if ((r = cpu_set_add(&avoid, c)) < 0)
                                return r;
                        if (!core)
                                continue;
                        hwloc_bitmap_foreach_begin(k, core) {
                                if ((r = cpu_set_add(&avoid, k)) < 0)
                                        return r;
                        }
                        hwloc_bitmap_foreach_end();
                }

        node_cpus(t, req->numa_node, node_set);

        /* pass 0: free cores of the node; 1: free cores elsewhere; 2: housekeeping CPUs */
        for (int pass = 0; pass < 3 && n < req->n_vcpus; pass++) {
                hwloc_obj_t core = NULL;

                while (n < req->n_vcpus &&
                       (core = hwloc_get_next_obj_by_type(t->topology, HWLOC_OBJ_CORE, core))) {
                        bool local = hwloc_bitmap_isincluded(core->cpuset, node_set);
                        bool hk = bitmap_intersects_set(core->cpuset, &housekeeping);
                        int cpu;

                        if (pass == 2 ? !hk : hk || local != (pass == 0))
                                continue;
                        hwloc_bitmap_foreach_begin(cpu, core->cpuset) {
                                if (n >= req->n_vcpus || !cpu_set_isset(&usable, cpu) ||
                                    cpu_set_isset(&avoid, cpu) || cpu_set_isset(&vcpus, cpu) ||
                                    optional_set_has(req->reserved, cpu))
                                        continue;
                                if ((r = cpu_set_add(&vcpus, cpu)) < 0)
                                        return r;
                                n++;
                                on_housekeeping = on_housekeeping || pass == 2;
                        }
                        hwloc_bitmap_foreach_end();
                }
        }
        if (n < req->n_vcpus)
                return -ENOSPC;

        /* Emulator threads: housekeeping CPUs no vCPU uses, else any CPU testpmd leaves free. */
        for (int pass = 0; req->emulator && pass < 4 && cpu_set_count(&emulator) == 0; pass++)
                CPU_SET_FOREACH(c, pass % 2 == 0 ? &housekeeping : &usable) {
                        if (!cpu_set_isset(&usable, c) || cpu_set_isset(&avoid, c))
                                continue;
                        if (pass < 2 && (cpu_set_isset(&vcpus, c) || optional_set_has(req->reserved, c)))
                                continue;
                        if ((r = cpu_set_add(&emulator, c)) < 0)
                                return r;
                }
        if (req->emulator && cpu_set_count(&emulator) == 0)
                return -ENOSPC;

        *ret = (GuestCpuSelection) {
                .vcpus = vcpus,
                .emulator = emulator,
                .housekeeping = on_housekeeping,
        };
        vcpus = emulator = (CPUSet) {};
        return 0;
}

static int parse_isolcpus_cmdline(const char *cmdline, CPUSet *ret) {
        _cleanup_free_ char *copy = strdup(cmdline);
        char *state = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t\n", &state); w; w = strtok_r(NULL, " \t\n", &state)) {
                char *v;

                if (!startswith(w, "isolcpus="))
                        continue;
                v = w + strlen("isolcpus=");
                /* flags come first, "isolcpus=domain,managed_irq,2-3": skip words with letters */
                for (;;) {
                        size_t k = strcspn(v, ",");
                        bool alpha = false;
                        for (size_t i = 0; i < k; i++)
                                if ((v[i] >= 'a' && v[i] <= 'z') || v[i] == '_')
                                        alpha = true;
                        if (!alpha || !v[k])
                                break;
                        v += k + 1;
                }
                cpu_set_done(ret);
                if (cpu_set_parse(v, ret) < 0)
                        return -EINVAL;
        }
        return 0;
}

int cpu_isolated_read(const char *root, CPUSet *ret) {
        _cleanup_free_ char *p = path_prefix_root(root, "/sys/devices/system/cpu/isolated"), *v = NULL,
                            *c = path_prefix_root(root, "/proc/cmdline");
        CPUSet s = {};
        int r;

        if (!p || !c)
                return -ENOMEM;
        if (read_one_line_file(p, &v) >= 0) {
                if (!isempty(strstrip(v)) && cpu_set_parse(v, &s) < 0)
                        return -EINVAL;
                *ret = s;
                return 0;
        }
        free(v);
        v = NULL;
        if (read_one_line_file(c, &v) >= 0) {
                r = parse_isolcpus_cmdline(v, &s);
                if (r < 0) {
                        cpu_set_done(&s);
                        return r;
                }
        }
        *ret = s;
        return 0;
}
