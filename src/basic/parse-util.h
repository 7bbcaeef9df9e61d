/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include "macro.h"

#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MSEC UINT64_C(1000)

int parse_boolean(const char *v);
int parse_uint64(const char *s, uint64_t *ret);
int parse_unsigned(const char *s, unsigned *ret);
/* Sizes: a plain number is bytes; K, M, G, T, P with optional "iB" or "B" are powers of 1024. */
int parse_size(const char *s, uint64_t *ret);
int format_size(uint64_t bytes, char **ret);
/* Time spans as systemd writes them: "5", "5s", "200ms", "1min 30s", "2h". */
int parse_time_usec(const char *s, uint64_t default_unit, uint64_t *ret);
int format_time_usec(uint64_t usec, char **ret);

/* CPU sets: "0-3,8,10-11" (also separated by spaces). */
typedef struct CPUSet {
        uint64_t *bits;
        size_t n_words;
} CPUSet;

void cpu_set_done(CPUSet *c);
int cpu_set_parse(const char *s, CPUSet *ret);
int cpu_set_add(CPUSet *c, unsigned cpu);
bool cpu_set_isset(const CPUSet *c, unsigned cpu);
unsigned cpu_set_count(const CPUSet *c);
int cpu_set_max(const CPUSet *c); /* -1 if empty */
int cpu_set_format(const CPUSet *c, char **ret);
int cpu_set_copy(const CPUSet *c, CPUSet *ret);
#define CPU_SET_FOREACH(cpu, set)                                            \
        for (int cpu = 0, _max_ = cpu_set_max(set); cpu <= _max_; cpu++)   \
                if (cpu_set_isset((set), cpu))

/* PCI addresses: "DDDD:BB:DD.F" or "BB:DD.F"; normalized to lower-case with the domain. */
int pci_address_normalize(const char *s, char **ret);
bool mac_address_valid(const char *s);
int mac_address_parse(const char *s, uint8_t ret[6]);
/* Address with prefix length, IPv4 or IPv6. ret_family may be NULL. */
int cidr_parse(const char *s, int *ret_family, unsigned *ret_prefixlen);
bool ifname_valid(const char *s);
bool hostname_valid(const char *s);
/* Names that become part of unit instance names (JOB, GUEST, ...). */
bool unit_instance_name_valid(const char *s);
