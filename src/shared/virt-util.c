/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <libxml/xmlwriter.h>
#include "string-util.h"
#include "strv.h"
#include "virt-util.h"

int guest_domain_name(const char *job, const GuestSection *g, unsigned index, char **ret) {
        if (g->count > 1)
                return asprintf_safe(ret, "mhtest-%s-%s-%u", job, g->section.name, index + 1) < 0 ? -ENOMEM : 0;
        return asprintf_safe(ret, "mhtest-%s-%s", job, g->section.name) < 0 ? -ENOMEM : 0;
}

int guest_serial_log_path(const char *domain, char **ret) {
        *ret = strjoin("/var/log/libvirt/qemu/", domain, "-serial.log");
        return *ret ? 0 : -ENOMEM;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(xmlTextWriterPtr, xmlFreeTextWriter);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlBufferPtr, xmlBufferFree);

#define W(call)                         \
        do {                            \
                if ((call) < 0)         \
                        return -EIO;    \
        } while (0)
#define X(s) BAD_CAST(s)

static int elem_text(xmlTextWriterPtr w, const char *name, const char *text) {
        return xmlTextWriterWriteElement(w, X(name), X(text));
}

static int elem_attr(xmlTextWriterPtr w, const char *name, const char *attr, const char *value) {
        if (xmlTextWriterStartElement(w, X(name)) < 0 || xmlTextWriterWriteAttribute(w, X(attr), X(value)) < 0)
                return -1;
        return xmlTextWriterEndElement(w);
}

static int write_cpuset(xmlTextWriterPtr w, const char *elem, const char *attr_name, int vcpu,
                        const CPUSet *set) {
        _cleanup_free_ char *s = NULL;

        if (cpu_set_format(set, &s) < 0)
                return -1;
        if (xmlTextWriterStartElement(w, X(elem)) < 0)
                return -1;
        if (vcpu >= 0 && xmlTextWriterWriteFormatAttribute(w, X(attr_name), "%d", vcpu) < 0)
                return -1;
        if (xmlTextWriterWriteAttribute(w, X("cpuset"), X(s)) < 0)
                return -1;
        return xmlTextWriterEndElement(w);
}

/* The n-th CPU of a set, for pinning vCPU n to one host CPU. */
static int cpu_set_nth(const CPUSet *set, unsigned n) {
        CPU_SET_FOREACH(cpu, set)
                if (n-- == 0)
                        return cpu;
        return -1;
}

static int write_interface(xmlTextWriterPtr w, const char *spec, const GuestXmlOptions *o, unsigned idx,
                           unsigned *n_vhost) {
        _cleanup_free_ char *kind = strndup(spec, strcspn(spec, ":/"));
        const char *mac = strchr(spec, '/');
        const char *arg = strchr(spec, ':');
        _cleanup_free_ char *target = NULL, *alias = NULL;

        if (!kind)
                return -1;
        if (arg && (!mac || arg < mac))
                target = strndup(arg + 1, mac ? (size_t) (mac - arg - 1) : strlen(arg + 1));
        if (asprintf_safe(&alias, "ua-net%u", idx) < 0)
                return -1;

        if (streq(kind, "vhost-user")) {
                _cleanup_free_ char *path = strjoin(o->vhost_user_dir, "/", target, ".sock");
                if (!path)
                        return -1;
                W(xmlTextWriterStartElement(w, X("interface")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X("vhostuser")));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(xmlTextWriterStartElement(w, X("source")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X("unix")));
                W(xmlTextWriterWriteAttribute(w, X("path"), X(path)));
                /* testpmd owns the socket (server); QEMU connects and reconnects. */
                W(xmlTextWriterWriteAttribute(w, X("mode"), X("client")));
                W(xmlTextWriterStartElement(w, X("reconnect")));
                W(xmlTextWriterWriteAttribute(w, X("enabled"), X("yes")));
                W(xmlTextWriterWriteAttribute(w, X("timeout"), X("2")));
                W(xmlTextWriterEndElement(w));
                W(xmlTextWriterEndElement(w));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(xmlTextWriterEndElement(w));
                (*n_vhost)++;
        } else if (streq(kind, "bridge") || streq(kind, "network") || streq(kind, "management")) {
                bool is_bridge = streq(kind, "bridge");
                W(xmlTextWriterStartElement(w, X("interface")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X(is_bridge ? "bridge" : "network")));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(elem_attr(w, "source", is_bridge ? "bridge" : "network",
                            target ?: (o->management_network ?: "default")));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(xmlTextWriterEndElement(w));
        } else if (streq(kind, "user")) {
                W(xmlTextWriterStartElement(w, X("interface")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X("user")));
                if (mac)
                        W(elem_attr(w, "mac", "address", mac + 1));
                W(elem_attr(w, "model", "type", "virtio"));
                W(elem_attr(w, "alias", "name", alias));
                W(xmlTextWriterEndElement(w));
        } else
                return -1;
        return 0;
}

static int write_domain(xmlTextWriterPtr w, const char *job, const GuestSection *g, unsigned index,
                        const GuestXmlOptions *o) {
        _cleanup_free_ char *name = NULL, *serial = NULL;
        bool vhost = false, pin = g->vcpu_pinning.n_words > 0, epin = g->emulator_pinning.n_words > 0;
        unsigned n_vhost = 0, idx = 0;

        if (guest_domain_name(job, g, index, &name) < 0 || guest_serial_log_path(name, &serial) < 0)
                return -ENOMEM;
        STRV_FOREACH(i, g->interfaces)
                if (startswith(*i, "vhost-user:"))
                        vhost = true;

        W(xmlTextWriterStartElement(w, X("domain")));
        W(xmlTextWriterWriteAttribute(w, X("type"), X(o->kvm ? "kvm" : "qemu")));
        W(xmlTextWriterWriteAttribute(w, X("xmlns:qemu"), X("http://libvirt.org/schemas/domain/qemu/1.0")));
        W(elem_text(w, "name", name));
        W(xmlTextWriterStartElement(w, X("metadata")));
        W(xmlTextWriterStartElement(w, X("mhtest:guest")));
        W(xmlTextWriterWriteAttribute(w, X("xmlns:mhtest"), X("https://mhtest.example/guest/1")));
        W(xmlTextWriterWriteAttribute(w, X("job"), X(job)));
        W(xmlTextWriterWriteAttribute(w, X("name"), X(g->section.name)));
        if (g->role)
                W(xmlTextWriterWriteAttribute(w, X("role"), X(g->role)));
        W(xmlTextWriterEndElement(w));
        W(xmlTextWriterEndElement(w));
        if (g->description)
                W(elem_text(w, "description", g->description));
        W(xmlTextWriterStartElement(w, X("memory")));
        W(xmlTextWriterWriteAttribute(w, X("unit"), X("KiB")));
        W(xmlTextWriterWriteFormatString(w, "%" PRIu64, g->memory / 1024));
        W(xmlTextWriterEndElement(w));
        W(xmlTextWriterWriteFormatElement(w, X("vcpu"), "%u", g->vcpus));

        /* vhost-user needs guest RAM shared with testpmd; hugepages give that too. */
        if (g->hugepages || vhost) {
                W(xmlTextWriterStartElement(w, X("memoryBacking")));
                if (g->hugepages) {
                        W(xmlTextWriterStartElement(w, X("hugepages")));
                        W(xmlTextWriterEndElement(w));
                } else
                        W(elem_attr(w, "source", "type", "memfd"));
                W(elem_attr(w, "access", "mode", "shared"));
                W(xmlTextWriterEndElement(w));
        }
        if (pin || epin) {
                W(xmlTextWriterStartElement(w, X("cputune")));
                for (unsigned v = 0; pin && v < g->vcpus; v++) {
                        CPUSet one = {};
                        int cpu = cpu_set_nth(&g->vcpu_pinning, v);
                        if (cpu < 0 || cpu_set_add(&one, (unsigned) cpu) < 0) {
                                cpu_set_done(&one);
                                return -EINVAL;
                        }
                        if (write_cpuset(w, "vcpupin", "vcpu", (int) v, &one) < 0) {
                                cpu_set_done(&one);
                                return -EIO;
                        }
                        cpu_set_done(&one);
                }
                if (epin)
                        W(write_cpuset(w, "emulatorpin", NULL, -1, &g->emulator_pinning));
                W(xmlTextWriterEndElement(w));
        }

        W(xmlTextWriterStartElement(w, X("os")));
        W(xmlTextWriterStartElement(w, X("type")));
        W(xmlTextWriterWriteAttribute(w, X("arch"), X("x86_64")));
        W(xmlTextWriterWriteAttribute(w, X("machine"), X(g->machine)));
        W(xmlTextWriterWriteString(w, X("hvm")));
        W(xmlTextWriterEndElement(w));
        if (g->kernel) {
                W(elem_text(w, "kernel", g->kernel));
                if (g->initrd)
                        W(elem_text(w, "initrd", g->initrd));
                if (g->kernel_command_line)
                        W(elem_text(w, "cmdline", g->kernel_command_line));
        } else
                W(elem_attr(w, "boot", "dev", "hd"));
        W(xmlTextWriterEndElement(w));

        W(xmlTextWriterStartElement(w, X("cpu")));
        if (streq(g->cpu_model, "host-passthrough") || streq(g->cpu_model, "host-model"))
                W(xmlTextWriterWriteAttribute(w, X("mode"), X(g->cpu_model)));
        else {
                W(xmlTextWriterWriteAttribute(w, X("mode"), X("custom")));
                W(xmlTextWriterWriteAttribute(w, X("match"), X("exact")));
                W(xmlTextWriterStartElement(w, X("model")));
                W(xmlTextWriterWriteAttribute(w, X("fallback"), X("forbid")));
                W(xmlTextWriterWriteString(w, X(g->cpu_model)));
                W(xmlTextWriterEndElement(w));
        }
        if (g->hugepages || vhost) {
                /* shared memory for vhost-user must be declared per NUMA cell */
                W(xmlTextWriterStartElement(w, X("numa")));
                W(xmlTextWriterStartElement(w, X("cell")));
                W(xmlTextWriterWriteAttribute(w, X("id"), X("0")));
                W(xmlTextWriterWriteFormatAttribute(w, X("cpus"), "0-%u", g->vcpus - 1));
                W(xmlTextWriterWriteFormatAttribute(w, X("memory"), "%" PRIu64, g->memory / 1024));
                W(xmlTextWriterWriteAttribute(w, X("unit"), X("KiB")));
                W(xmlTextWriterWriteAttribute(w, X("memAccess"), X("shared")));
                W(xmlTextWriterEndElement(w));
                W(xmlTextWriterEndElement(w));
        }
        W(xmlTextWriterEndElement(w));

        W(elem_attr(w, "clock", "offset", "utc"));
        W(elem_text(w, "on_poweroff", "destroy"));
        W(elem_text(w, "on_reboot", "restart"));
        W(elem_text(w, "on_crash", "destroy"));

        W(xmlTextWriterStartElement(w, X("devices")));
        if (g->image) {
                W(xmlTextWriterStartElement(w, X("disk")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X("file")));
                W(xmlTextWriterWriteAttribute(w, X("device"), X("disk")));
                W(xmlTextWriterStartElement(w, X("driver")));
                W(xmlTextWriterWriteAttribute(w, X("name"), X("qemu")));
                W(xmlTextWriterWriteAttribute(w, X("type"), X(endswith(g->image, ".qcow2") ? "qcow2" : "raw")));
                W(xmlTextWriterWriteAttribute(w, X("cache"), X("none")));
                W(xmlTextWriterEndElement(w));
                W(elem_attr(w, "source", "file", g->image));
                W(xmlTextWriterStartElement(w, X("target")));
                W(xmlTextWriterWriteAttribute(w, X("dev"), X("vda")));
                W(xmlTextWriterWriteAttribute(w, X("bus"), X("virtio")));
                W(xmlTextWriterEndElement(w));
                W(xmlTextWriterEndElement(w));
        }
        STRV_FOREACH(i, g->interfaces)
                W(write_interface(w, *i, o, idx++, &n_vhost));
        W(xmlTextWriterStartElement(w, X("serial")));
        W(xmlTextWriterWriteAttribute(w, X("type"), X("file")));
        W(xmlTextWriterStartElement(w, X("source")));
        W(xmlTextWriterWriteAttribute(w, X("path"), X(serial)));
        W(xmlTextWriterWriteAttribute(w, X("append"), X("on")));
        W(xmlTextWriterEndElement(w));
        W(elem_attr(w, "target", "port", "0"));
        W(xmlTextWriterEndElement(w));
        W(elem_attr(w, "memballoon", "model", "none"));
        W(xmlTextWriterEndElement(w)); /* devices */

        /* QEMU 7.2 under TCG crashes when a guest enables MSI-X on a vhost-user NIC (no KVM
         * irqfds): give those NICs no vectors. Harmless under KVM, needed under TCG. */
        if (!o->kvm && n_vhost > 0) {
                unsigned k = 0;
                W(xmlTextWriterStartElement(w, X("qemu:override")));
                STRV_FOREACH(i, g->interfaces) {
                        _cleanup_free_ char *alias = NULL;
                        if (!startswith(*i, "vhost-user:")) {
                                k++;
                                continue;
                        }
                        if (asprintf_safe(&alias, "ua-net%u", k++) < 0)
                                return -ENOMEM;
                        W(xmlTextWriterStartElement(w, X("qemu:device")));
                        W(xmlTextWriterWriteAttribute(w, X("alias"), X(alias)));
                        W(xmlTextWriterStartElement(w, X("qemu:frontend")));
                        W(xmlTextWriterStartElement(w, X("qemu:property")));
                        W(xmlTextWriterWriteAttribute(w, X("name"), X("vectors")));
                        W(xmlTextWriterWriteAttribute(w, X("type"), X("unsigned")));
                        W(xmlTextWriterWriteAttribute(w, X("value"), X("0")));
                        W(xmlTextWriterEndElement(w));
                        W(xmlTextWriterEndElement(w));
                        W(xmlTextWriterEndElement(w));
                }
                W(xmlTextWriterEndElement(w));
        }
        W(xmlTextWriterEndElement(w)); /* domain */
        return 0;
}

int guest_domain_xml(const char *job, const GuestSection *g, unsigned index, const GuestXmlOptions *o,
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
        r = write_domain(w, job, g, index, o);
        if (r < 0)
                return r;
        if (xmlTextWriterEndDocument(w) < 0)
                return -EIO;
        xmlFreeTextWriter(w);
        w = NULL;
        *ret = strdup((const char *) xmlBufferContent(buf));
        return *ret ? 0 : -ENOMEM;
}
