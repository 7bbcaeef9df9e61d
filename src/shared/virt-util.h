/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* libvirt domain name of a guest instance: mhtest-JOB-GUEST, or mhtest-JOB-GUEST-N when
 * [Guest] Count= > 1 (N from 1). */
int guest_domain_name(const char *job, const GuestSection *g, unsigned index, char **ret);
/* Where the guest's serial console is logged (the ready marker is looked for there). */
int guest_serial_log_path(const char *domain, char **ret);

/* The guest agent's virtio-serial port name, as qemu-guest-agent looks for it. */
#define GUEST_AGENT_CHANNEL "org.qemu.guest_agent.0"

typedef struct GuestXmlOptions {
        bool kvm;                       /* domain type kvm, else qemu (TCG) */
        const char *vhost_user_dir;     /* where testpmd's vhost-user sockets live (/run/mhtest/JOB) */
        const char *management_network; /* libvirt network for "management" interfaces */
        const char *seed;               /* cloud-init seed ISO attached as a cdrom; NULL: none */
        const char *image;              /* the file attached as vda in place of Image= (a run's
                                         * overlay); NULL: Image= itself */
        char *const *disks;             /* the files attached in place of Disks=, as many
                                         * (overlays); NULL: Disks= themselves */
        const char *config_hash;        /* "mhtest config hash" of the job, recorded in the
                                         * metadata so that adoption can tell the domain is ours */
        /* Host facts (guest-placement.h), needed when the configuration asks for them: */
        const char *nested_feature; /* NestedVirtualization=yes: "svm" or "vmx" */
        const CPUSet *vcpus;        /* VCPUPinning=auto: vCPU n on the n-th CPU */
        const CPUSet *emulator;     /* EmulatorPinning=auto */
} GuestXmlOptions;

/* The <metadata> element of every mhtest domain: the job, guest, instance (1..Count) and the
 * job's configuration hash it was started from. "mhtest guest" adopts a running domain only
 * when they match. */
#define GUEST_METADATA_NS "https://mhtest.example/guest/1"
/* Written by mhtest-coord on the source domain just before it migrates it: libvirt does not
 * tell the source where its domain went (no destination in the job statistics or events), so
 * the guest's supervisor learns it from this element (a METADATA_CHANGE event). */
#define GUEST_MIGRATION_NS "https://mhtest.example/migration/1"

typedef struct GuestMetadata {
        char *job;
        char *guest;
        unsigned instance;
        char *config_hash;
} GuestMetadata;
void guest_metadata_done(GuestMetadata *m);
/* Parse the element virDomainGetMetadata(GUEST_METADATA_NS) returns. -EBADMSG when it is not
 * one (missing attributes, not XML). */
int guest_metadata_parse(const char *xml, GuestMetadata *ret);
/* The XML of the GUEST_MIGRATION_NS element naming the destination host, and its parser. */
int guest_migration_xml(const char *to, char **ret);
int guest_migration_parse(const char *xml, char **ret_to);

/* The libvirt domain XML of instance index of guest g of job j, built with libxml2's writer.
 * -EINVAL when g asks for a host fact o does not carry. */
int guest_domain_xml(const JobConfig *j, const GuestSection *g, unsigned index, const GuestXmlOptions *o,
                     char **ret);
