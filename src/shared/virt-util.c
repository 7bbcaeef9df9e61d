/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <libxml/parser.h>
#include <libxml/xmlwriter.h>

#include "parse-util.h"
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

int guest_domain_name(const char *job, const GuestSection *g, unsigned index, char **ret) {
        if (g->count > 1)
                return asprintf_safe(ret, "mhtest-%s-%s-%u", job, g->section.name, index + 1) < 0 ? -ENOMEM
                                                                                                  : 0;
        return asprintf_safe(ret, "mhtest-%s-%s", job, g->section.name) < 0 ? -ENOMEM : 0;
}

int guest_serial_log_path(const char *domain, char **ret) {
        *ret = strjoin("/var/log/libvirt/qemu/", domain, "-serial.log");
        return *ret ? 0 : -ENOMEM;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlTextWriterPtr, xmlFreeTextWriter);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree);

#define W(call)                      \
        do {                         \
                if ((call) < 0)      \
                        return -EIO; \
        } while (0)
#define X(s) BAD_CAST(s)

/* Every value from the configuration goes through the writer, which escapes it. */
static int start(xmlTextWriterPtr w, const char *name) {
        return xmlTextWriterStartElement(w, X(name));
}

static int end(xmlTextWriterPtr w) {
        return xmlTextWriterEndElement(w);
}

static int attr(xmlTextWriterPtr w, const char *name, const char *value) {
        return xmlTextWriterWriteAttribute(w, X(name), X(value));
}

static int elem_text(xmlTextWriterPtr w, const char *name, const char *text) {
        return xmlTextWriterWriteElement(w, X(name), X(text));
}

static int elem_attr(xmlTextWriterPtr w, const char *name, const char *a, const char *value) {
        if (start(w, name) < 0 || attr(w, a, value) < 0)
                return -1;
        return end(w);
}

static int elem_attr2(xmlTextWriterPtr w, const char *name, const char *a1, const char *v1, const char *a2,
                      const char *v2) {
        if (start(w, name) < 0 || attr(w, a1, v1) < 0 || attr(w, a2, v2) < 0)
                return -1;
        return end(w);
}

static int write_cpuset(xmlTextWriterPtr w, const char *elem, int vcpu, const CPUSet *set) {
        _cleanup_free_ char *s = NULL;

        if (cpu_set_format(set, &s) < 0)
                return -1;
        if (start(w, elem) < 0)
                return -1;
        if (vcpu >= 0 && xmlTextWriterWriteFormatAttribute(w, X("vcpu"), "%d", vcpu) < 0)
                return -1;
        if (attr(w, "cpuset", s) < 0)
                return -1;
        return end(w);
}

static bool guest_has_vhost_user(const GuestSection *g) {
        STRV_FOREACH (i, g->interfaces)
                if (startswith(*i, "vhost-user:"))
                        return true;
        return false;
}

static int write_metadata(xmlTextWriterPtr w, const JobConfig *j, const GuestSection *g, unsigned index,
                          const GuestXmlOptions *o) {
        W(start(w, "metadata"));
        W(start(w, "mhtest:guest"));
        W(attr(w, "xmlns:mhtest", GUEST_METADATA_NS));
        W(attr(w, "job", j->name));
        W(attr(w, "name", g->section.name));
        W(xmlTextWriterWriteFormatAttribute(w, X("instance"), "%u", index + 1));
        if (o->config_hash)
                W(attr(w, "config", o->config_hash));
        if (g->role)
                W(attr(w, "role", g->role));
        W(end(w));
        W(end(w));
        return 0;
}

/* vhost-user needs guest RAM shared with testpmd; hugepages come from a hugetlb memfd, which
 * needs no hugetlbfs mount for libvirt. */
static int write_memory_backing(xmlTextWriterPtr w, const JobConfig *j, const GuestSection *g, bool vhost,
                                GuestHugePages *ret_huge) {
        GuestHugePages h = { .node = -1 };

        if (g->hugepages && guest_hugepages(j, g, &h) < 0)
                return -EINVAL; /* config validation refuses that */
        *ret_huge = h;
        if (!g->hugepages && !vhost)
                return 0;
        W(start(w, "memoryBacking"));
        if (g->hugepages) {
                W(start(w, "hugepages"));
                W(start(w, "page"));
                W(xmlTextWriterWriteFormatAttribute(w, X("size"), "%" PRIu64, h.page_size / 1024));
                W(attr(w, "unit", "KiB"));
                W(end(w));
                W(end(w));
        }
        W(elem_attr(w, "source", "type", "memfd"));
        if (vhost)
                W(elem_attr(w, "access", "mode", "shared"));
        W(end(w));
        return 0;
}

static int write_cputune(xmlTextWriterPtr w, const GuestSection *g, const GuestXmlOptions *o) {
        const CPUSet *vcpus = g->vcpu_pinning.automatic ? o->vcpus : &g->vcpu_pinning.cpus;
        const CPUSet *emulator = g->emulator_pinning.automatic ? o->emulator : &g->emulator_pinning.cpus;
        unsigned v = 0;

        if (!vcpus || !emulator)
                return -EINVAL; /* automatic pinning not resolved by the caller */
        if (cpu_set_count(vcpus) == 0 && cpu_set_count(emulator) == 0)
                return 0;
        if (cpu_set_count(vcpus) > 0 && cpu_set_count(vcpus) < g->vcpus)
                return -EINVAL;
        W(start(w, "cputune"));
        /* vCPU n on the n-th CPU of the set, one CPU each */
        CPU_SET_FOREACH (cpu, vcpus) {
                _cleanup_(cpu_set_done) CPUSet one = {};

                if (v >= g->vcpus)
                        break;
                if (cpu_set_add(&one, (unsigned) cpu) < 0)
                        return -ENOMEM;
                W(write_cpuset(w, "vcpupin", (int) v++, &one));
        }
        if (cpu_set_count(emulator) > 0)
                W(write_cpuset(w, "emulatorpin", -1, emulator));
        W(end(w));
        return 0;
}

static int write_os(xmlTextWriterPtr w, const GuestSection *g) {
        W(start(w, "os"));
        W(start(w, "type"));
        W(attr(w, "arch", "x86_64"));
        W(attr(w, "machine", g->machine));
        W(xmlTextWriterWriteString(w, X("hvm")));
        W(end(w));
        if (g->kernel) {
                /* direct kernel boot, with or without disks: root= in the command line picks one */
                W(elem_text(w, "kernel", g->kernel));
                if (g->initrd)
                        W(elem_text(w, "initrd", g->initrd));
                if (g->kernel_command_line)
                        W(elem_text(w, "cmdline", g->kernel_command_line));
        } else
                W(elem_attr(w, "boot", "dev", "hd"));
        W(end(w));
        return 0;
}

static int write_cpu(xmlTextWriterPtr w, const GuestSection *g, const GuestXmlOptions *o, bool vhost) {
        if (g->nested_virtualization && !o->nested_feature)
                return -EINVAL;
        W(start(w, "cpu"));
        if (streq(g->cpu_model, "host-passthrough") || streq(g->cpu_model, "host-model"))
                W(attr(w, "mode", g->cpu_model));
        else {
                W(attr(w, "mode", "custom"));
                W(attr(w, "match", "exact"));
                W(start(w, "model"));
                W(attr(w, "fallback", "forbid"));
                W(xmlTextWriterWriteString(w, X(g->cpu_model)));
                W(end(w));
        }
        /* libvirt refuses to start the guest rather than hide the extension */
        if (g->nested_virtualization)
                W(elem_attr2(w, "feature", "policy", "require", "name", o->nested_feature));
        if (vhost) {
                /* shared memory for vhost-user must be declared per NUMA cell */
                W(start(w, "numa"));
                W(start(w, "cell"));
                W(attr(w, "id", "0"));
                W(xmlTextWriterWriteFormatAttribute(w, X("cpus"), "0-%u", g->vcpus - 1));
                W(xmlTextWriterWriteFormatAttribute(w, X("memory"), "%" PRIu64, g->memory / 1024));
                W(attr(w, "unit", "KiB"));
                W(attr(w, "memAccess", "shared"));
                W(end(w));
                W(end(w));
        }
        W(end(w));
        return 0;
}

static int write_disk(xmlTextWriterPtr w, const char *path, bool overlay, unsigned n) {
        char dev[] = "vdX";

        dev[2] = (char) ('a' + n);
        W(start(w, "disk"));
        W(attr(w, "type", "file"));
        W(attr(w, "device", "disk"));
        W(start(w, "driver"));
        W(attr(w, "name", "qemu"));
        W(attr(w, "type", overlay || endswith(path, ".qcow2") ? "qcow2" : "raw"));
        /* An overlay lives for one run and goes at stop: the host's page cache risks nothing, and
         * O_DIRECT (cache=none) fails where /var/lib is on tmpfs or overlayfs (test hosts). */
        W(attr(w, "cache", overlay ? "writeback" : "none"));
        W(end(w));
        W(elem_attr(w, "source", "file", path));
        W(elem_attr2(w, "target", "dev", dev, "bus", "virtio"));
        W(end(w));
        return 0;
}

static int write_interface(xmlTextWriterPtr w, const JobConfig *j, const char *spec,
                           const GuestXmlOptions *o, unsigned idx) {
        _cleanup_free_ char *kind = strndup(spec, strcspn(spec, ":/"));
        const char *mac = strchr(spec, '/');
        const char *arg = strchr(spec, ':');
        _cleanup_free_ char *target = NULL, *alias = NULL;

        if (!kind)
                return -ENOMEM;
        if (arg && (!mac || arg < mac)) {
                target = strndup(arg + 1, mac ? (size_t) (mac - arg - 1) : strlen(arg + 1));
                if (!target)
                        return -ENOMEM;
        }
        if (asprintf_safe(&alias, "ua-net%u", idx) < 0)
                return -ENOMEM;

        if (streq(kind, "vhost-user")) {
                _cleanup_free_ char *path = strjoin(o->vhost_user_dir, "/", target, ".sock");
                /* Exactly one side listens: the domain serves when testpmd is the client. */
                bool server = j->testpmd && j->testpmd->vhost_user_mode == VHOST_USER_CLIENT;

                if (!path)
                        return -ENOMEM;
                W(start(w, "interface"));
                W(attr(w, "type", "vhostuser"));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(start(w, "source"));
                W(attr(w, "type", "unix"));
                W(attr(w, "path", path));
                W(attr(w, "mode", server ? "server" : "client"));
                if (!server) /* QEMU reconnects when testpmd restarts */
                        W(elem_attr2(w, "reconnect", "enabled", "yes", "timeout", "2"));
                W(end(w));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(end(w));
        } else if (streq(kind, "bridge") || streq(kind, "network") || streq(kind, "management")) {
                bool is_bridge = streq(kind, "bridge");

                W(start(w, "interface"));
                W(attr(w, "type", is_bridge ? "bridge" : "network"));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(elem_attr(w, "source", is_bridge ? "bridge" : "network",
                            target ?: (o->management_network ?: "default")));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(end(w));
        } else if (streq(kind, "user")) {
                W(start(w, "interface"));
                W(attr(w, "type", "user"));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(end(w));
        } else
                return -EINVAL;
        return 0;
}

/* A pty anyone can attach to (virsh console), logged to a file the ready marker is read from;
 * libvirt's virtlogd writes the log, truncated at each start. */
static int write_console(xmlTextWriterPtr w, const char *serial_log) {
        W(start(w, "serial"));
        W(attr(w, "type", "pty"));
        W(elem_attr2(w, "log", "file", serial_log, "append", "off"));
        W(elem_attr(w, "target", "port", "0"));
        W(end(w));
        W(start(w, "console"));
        W(attr(w, "type", "pty"));
        W(elem_attr2(w, "target", "type", "serial", "port", "0"));
        W(end(w));
        return 0;
}

static int write_guest_agent(xmlTextWriterPtr w) {
        W(start(w, "channel"));
        W(attr(w, "type", "unix"));
        W(elem_attr(w, "source", "mode", "bind")); /* libvirt picks the socket path */
        W(elem_attr2(w, "target", "type", "virtio", "name", GUEST_AGENT_CHANNEL));
        W(end(w));
        return 0;
}

/* The cloud-init seed (guest-seed.h): a read-only cdrom on the machine's own controller (IDE on
 * pc, SATA on q35). startupPolicy='optional' drops it where the file is missing, as on the
 * destination of a migration: cloud-init read it at the first boot already. */
static int write_seed_cdrom(xmlTextWriterPtr w, const GuestSection *g, const char *seed) {
        bool q35 = g->machine && strstr(g->machine, "q35");

        W(start(w, "disk"));
        W(attr(w, "type", "file"));
        W(attr(w, "device", "cdrom"));
        W(elem_attr2(w, "driver", "name", "qemu", "type", "raw"));
        W(elem_attr2(w, "source", "file", seed, "startupPolicy", "optional"));
        W(elem_attr2(w, "target", "dev", q35 ? "sda" : "hdc", "bus", q35 ? "sata" : "ide"));
        W(start(w, "readonly"));
        W(end(w));
        W(end(w));
        return 0;
}

static int write_devices(xmlTextWriterPtr w, const JobConfig *j, const GuestSection *g,
                         const GuestXmlOptions *o, const char *serial_log) {
        const char *image = o->image ?: g->image;
        unsigned n_disks = 0, idx = 0;
        int r;

        W(start(w, "devices"));
        if (o->disks && strv_length(o->disks) != strv_length(g->disks))
                return -EINVAL;
        if (image)
                W(write_disk(w, image, !!o->image, n_disks++));
        for (size_t k = 0; g->disks && g->disks[k]; k++) {
                if (n_disks >= GUEST_DISKS_MAX + 1)
                        return -EINVAL;
                W(write_disk(w, o->disks ? o->disks[k] : g->disks[k], !!o->disks, n_disks++));
        }
        if (o->seed)
                W(write_seed_cdrom(w, g, o->seed));
        STRV_FOREACH (i, g->interfaces) {
                r = write_interface(w, j, *i, o, idx++);
                if (r < 0)
                        return r;
        }
        W(write_console(w, serial_log));
        W(write_guest_agent(w));
        W(elem_attr(w, "memballoon", "model", "none"));
        W(end(w));
        return 0;
}

/* QEMU 7.2 under TCG crashes when a guest enables MSI-X on a vhost-user NIC (no KVM irqfds):
 * give those NICs no vectors. Harmless under KVM, needed under TCG. */
static int write_tcg_vhost_overrides(xmlTextWriterPtr w, const GuestSection *g) {
        unsigned k = 0;

        W(start(w, "qemu:override"));
        STRV_FOREACH (i, g->interfaces) {
                _cleanup_free_ char *alias = NULL;

                if (asprintf_safe(&alias, "ua-net%u", k++) < 0)
                        return -ENOMEM;
                if (!startswith(*i, "vhost-user:"))
                        continue;
                W(start(w, "qemu:device"));
                W(attr(w, "alias", alias));
                W(start(w, "qemu:frontend"));
                W(start(w, "qemu:property"));
                W(attr(w, "name", "vectors"));
                W(attr(w, "type", "unsigned"));
                W(attr(w, "value", "0"));
                W(end(w));
                W(end(w));
                W(end(w));
        }
        W(end(w));
        return 0;
}

static int write_domain(xmlTextWriterPtr w, const JobConfig *j, const GuestSection *g, unsigned index,
                        const GuestXmlOptions *o) {
        _cleanup_free_ char *name = NULL, *serial = NULL;
        bool vhost = guest_has_vhost_user(g);
        GuestHugePages huge;
        int r;

        if (guest_domain_name(j->name, g, index, &name) < 0 || guest_serial_log_path(name, &serial) < 0)
                return -ENOMEM;

        W(start(w, "domain"));
        W(attr(w, "type", o->kvm ? "kvm" : "qemu"));
        W(attr(w, "xmlns:qemu", "http://libvirt.org/schemas/domain/qemu/1.0"));
        W(elem_text(w, "name", name));
        r = write_metadata(w, j, g, index, o);
        if (r < 0)
                return r;
        if (g->description)
                W(elem_text(w, "description", g->description));
        W(start(w, "memory"));
        W(attr(w, "unit", "KiB"));
        W(xmlTextWriterWriteFormatString(w, "%" PRIu64, g->memory / 1024));
        W(end(w));
        W(xmlTextWriterWriteFormatElement(w, X("vcpu"), "%u", g->vcpus));
        r = write_memory_backing(w, j, g, vhost, &huge);
        if (r >= 0)
                r = write_cputune(w, g, o);
        if (r < 0)
                return r;
        if (huge.node >= 0) {
                /* the node whose pool [HugePages] filled */
                W(start(w, "numatune"));
                W(start(w, "memory"));
                W(attr(w, "mode", "strict"));
                W(xmlTextWriterWriteFormatAttribute(w, X("nodeset"), "%d", huge.node));
                W(end(w));
                W(end(w));
        }
        r = write_os(w, g);
        if (r >= 0) {
                /* ACPI, so that a shutdown request reaches the guest */
                W(start(w, "features"));
                W(start(w, "acpi"));
                W(end(w));
                W(start(w, "apic"));
                W(end(w));
                W(end(w));
                r = write_cpu(w, g, o, vhost);
        }
        if (r < 0)
                return r;
        W(elem_attr(w, "clock", "offset", "utc"));
        W(elem_text(w, "on_poweroff", "destroy"));
        W(elem_text(w, "on_reboot", "restart"));
        W(elem_text(w, "on_crash", "destroy"));
        r = write_devices(w, j, g, o, serial);
        if (r >= 0 && !o->kvm && vhost)
                r = write_tcg_vhost_overrides(w, g);
        if (r < 0)
                return r;
        W(end(w)); /* domain */
        return 0;
}

int guest_domain_xml(const JobConfig *j, const GuestSection *g, unsigned index, const GuestXmlOptions *o,
                     char **ret) {
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = xmlBufferCreate();
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;
        int r;

        if (!buf)
                return -ENOMEM;
        w = xmlNewTextWriterMemory(buf, 0);
        if (!w)
                return -ENOMEM;
        xmlTextWriterSetIndent(w, 1);
        xmlTextWriterSetIndentString(w, X("  "));
        r = write_domain(w, j, g, index, o);
        if (r < 0)
                return r;
        if (xmlTextWriterEndDocument(w) < 0)
                return -EIO;
        xmlFreeTextWriter(w);
        w = NULL;
        *ret = strdup((const char *) xmlBufferContent(buf));
        return *ret ? 0 : -ENOMEM;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, xmlFreeDoc);

void guest_metadata_done(GuestMetadata *m) {
        free(m->job);
        free(m->guest);
        free(m->config_hash);
        *m = (GuestMetadata) {};
}

/* The root element of xml if it is local_name, in namespace ns or in none: libvirt's
 * virDomainGetMetadata() selects the element by namespace and returns it without one. */
static xmlNodePtr parse_element(const char *xml, const char *ns, const char *local_name, xmlDocPtr *ret_doc) {
        xmlDocPtr doc;
        xmlNodePtr root;

        if (!xml)
                return NULL;
        doc = xmlReadMemory(xml, (int) strlen(xml), NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                         XML_PARSE_NOWARNING);
        if (!doc)
                return NULL;
        root = xmlDocGetRootElement(doc);
        if (!root || (root->ns && !xmlStrEqual(root->ns->href, X(ns))) || !xmlStrEqual(root->name, X(local_name))) {
                xmlFreeDoc(doc);
                return NULL;
        }
        *ret_doc = doc;
        return root;
}

static char *prop_dup(xmlNodePtr n, const char *name) {
        xmlChar *v = xmlGetProp(n, X(name));
        char *s = v ? strdup((const char *) v) : NULL;

        xmlFree(v);
        return s;
}

int guest_metadata_parse(const char *xml, GuestMetadata *ret) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(guest_metadata_done) GuestMetadata m = {};
        _cleanup_free_ char *instance = NULL;
        xmlNodePtr n = parse_element(xml, GUEST_METADATA_NS, "guest", &doc);

        if (!n)
                return -EBADMSG;
        m.job = prop_dup(n, "job");
        m.guest = prop_dup(n, "name");
        m.config_hash = prop_dup(n, "config");
        instance = prop_dup(n, "instance");
        if (!m.job || !m.guest || !instance || parse_unsigned(instance, &m.instance) < 0 || m.instance == 0)
                return -EBADMSG;
        *ret = m;
        m = (GuestMetadata) {};
        return 0;
}

int guest_migration_xml(const char *to, char **ret) {
        _cleanup_(xmlBufferFreep) xmlBufferPtr buf = xmlBufferCreate();
        _cleanup_(xmlFreeTextWriterp) xmlTextWriterPtr w = NULL;

        if (!buf || !(w = xmlNewTextWriterMemory(buf, 0)))
                return -ENOMEM;
        /* libvirt takes the namespace from its API arguments, the element carries none */
        W(start(w, "migration"));
        W(attr(w, "to", to));
        W(end(w));
        W(xmlTextWriterEndDocument(w));
        xmlFreeTextWriter(w);
        w = NULL;
        *ret = strdup((const char *) xmlBufferContent(buf));
        return *ret ? 0 : -ENOMEM;
}

int guest_migration_parse(const char *xml, char **ret_to) {
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        xmlNodePtr n = parse_element(xml, GUEST_MIGRATION_NS, "migration", &doc);
        char *to;

        if (!n)
                return -EBADMSG;
        to = prop_dup(n, "to");
        if (!to)
                return -EBADMSG;
        *ret_to = to;
        return 0;
}
