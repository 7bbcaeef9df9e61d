/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <net/if.h>
#include "parse-util.h"
#include "string-util.h"

int parse_boolean(const char *v) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcaseeq(v, yes[i]))
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcaseeq(v, no[i]))
                        return 0;
        return -EINVAL;
}

int parse_uint64(const char *s, uint64_t *ret) {
        char *e;
        unsigned long long v;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &e, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*e)
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_unsigned(const char *s, unsigned *ret) {
        uint64_t v;
        int r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                unsigned shift;
        } table[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 }, { 'P', 50 } };
        char *e;
        unsigned long long v;
        unsigned shift = 0;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &e, 10);
        if (errno == ERANGE)
                return -ERANGE;
        while (*e == ' ')
                e++;
        if (*e) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(table); i++)
                        if (toupper((unsigned char) *e) == table[i].suffix)
                                break;
                if (i >= ELEMENTSOF(table)) {
                        if (!streq(e, "B"))
                                return -EINVAL;
                } else {
                        shift = table[i].shift;
                        e++;
                        if (!streq(e, "") && !streq(e, "iB") && !streq(e, "B"))
                                return -EINVAL;
                }
        }
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = (uint64_t) v << shift;
        return 0;
}

int format_size(uint64_t bytes, char **ret) {
        static const char *const suffix[] = { "", "K", "M", "G", "T", "P" };
        unsigned i = 0;

        while (i + 1 < ELEMENTSOF(suffix) && bytes != 0 && bytes % 1024 == 0) {
                bytes /= 1024;
                i++;
        }
        return asprintf_safe(ret, "%" PRIu64 "%s", bytes, suffix[i]) < 0 ? -ENOMEM : 0;
}

int parse_time_usec(const char *s, uint64_t default_unit, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } table[] = {
                { "usec", 1 }, { "us", 1 }, { "msec", USEC_PER_MSEC }, { "ms", USEC_PER_MSEC },
                { "seconds", USEC_PER_SEC }, { "second", USEC_PER_SEC }, { "sec", USEC_PER_SEC },
                { "s", USEC_PER_SEC }, { "minutes", 60 * USEC_PER_SEC }, { "minute", 60 * USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC }, { "m", 60 * USEC_PER_SEC }, { "hours", 3600 * USEC_PER_SEC },
                { "hour", 3600 * USEC_PER_SEC }, { "hr", 3600 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC },
        };
        uint64_t total = 0;
        const char *p = s;
        bool any = false;

        for (;;) {
                char *e;
                unsigned long long v;
                uint64_t unit = default_unit;
                size_t i;

                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                errno = 0;
                v = strtoull(p, &e, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                p = e;
                while (*p == ' ')
                        p++;
                for (i = 0; i < ELEMENTSOF(table); i++)
                        if (startswith(p, table[i].suffix) &&
                            !isalpha((unsigned char) p[strlen(table[i].suffix)]))
                                break;
                if (i < ELEMENTSOF(table)) {
                        unit = table[i].usec;
                        p += strlen(table[i].suffix);
                } else if (isalpha((unsigned char) *p))
                        return -EINVAL;
                if (v > (UINT64_MAX - total) / unit)
                        return -ERANGE;
                total += v * unit;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}

int format_time_usec(uint64_t usec, char **ret) {
        if (usec % USEC_PER_SEC == 0)
                return asprintf_safe(ret, "%" PRIu64 "s", usec / USEC_PER_SEC) < 0 ? -ENOMEM : 0;
        if (usec % USEC_PER_MSEC == 0)
                return asprintf_safe(ret, "%" PRIu64 "ms", usec / USEC_PER_MSEC) < 0 ? -ENOMEM : 0;
        return asprintf_safe(ret, "%" PRIu64 "us", usec) < 0 ? -ENOMEM : 0;
}

void cpu_set_done(CPUSet *c) {
        free(c->bits);
        c->bits = NULL;
        c->n_words = 0;
}

int cpu_set_add(CPUSet *c, unsigned cpu) {
        size_t w = cpu / 64;

        if (cpu >= 65536)
                return -ERANGE;
        if (w >= c->n_words) {
                uint64_t *b = realloc(c->bits, (w + 1) * sizeof(uint64_t));
                if (!b)
                        return -ENOMEM;
                memset(b + c->n_words, 0, (w + 1 - c->n_words) * sizeof(uint64_t));
                c->bits = b;
                c->n_words = w + 1;
        }
        c->bits[w] |= UINT64_C(1) << (cpu % 64);
        return 0;
}

bool cpu_set_isset(const CPUSet *c, unsigned cpu) {
        return cpu / 64 < c->n_words && (c->bits[cpu / 64] & (UINT64_C(1) << (cpu % 64)));
}

unsigned cpu_set_count(const CPUSet *c) {
        unsigned n = 0;
        for (size_t i = 0; i < c->n_words; i++)
                n += __builtin_popcountll(c->bits[i]);
        return n;
}

int cpu_set_max(const CPUSet *c) {
        for (size_t i = c->n_words; i > 0; i--)
                if (c->bits[i - 1])
                        return (int) ((i - 1) * 64 + 63 - __builtin_clzll(c->bits[i - 1]));
        return -1;
}

int cpu_set_parse(const char *s, CPUSet *ret) {
        CPUSet c = {};
        const char *p = s;
        bool any = false;

        for (;;) {
                char *e;
                unsigned long a, b;

                while (*p == ' ' || *p == ',')
                        p++;
                if (!*p)
                        break;
                if (!isdigit((unsigned char) *p))
                        goto invalid;
                a = strtoul(p, &e, 10);
                b = a;
                if (*e == '-') {
                        p = e + 1;
                        if (!isdigit((unsigned char) *p))
                                goto invalid;
                        b = strtoul(p, &e, 10);
                }
                if (*e && *e != ',' && *e != ' ')
                        goto invalid;
                if (b < a || b >= 65536)
                        goto invalid;
                for (unsigned long i = a; i <= b; i++)
                        if (cpu_set_add(&c, (unsigned) i) < 0) {
                                cpu_set_done(&c);
                                return -ENOMEM;
                        }
                any = true;
                p = e;
        }
        if (!any)
                goto invalid;
        *ret = c;
        return 0;
invalid:
        cpu_set_done(&c);
        return -EINVAL;
}

int cpu_set_format(const CPUSet *c, char **ret) {
        _cleanup_free_ char *s = strdup("");
        int max = cpu_set_max(c);

        if (!s)
                return -ENOMEM;
        for (int i = 0; i <= max; i++) {
                int j;
                char *n;

                if (!cpu_set_isset(c, i))
                        continue;
                for (j = i; j + 1 <= max && cpu_set_isset(c, j + 1); j++)
                        ;
                if ((j == i ? asprintf_safe(&n, "%s%s%d", s, *s ? "," : "", i)
                            : asprintf_safe(&n, "%s%s%d-%d", s, *s ? "," : "", i, j)) < 0)
                        n = NULL;
                if (!n)
                        return -ENOMEM;
                free(s);
                s = n;
                i = j;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int cpu_set_copy(const CPUSet *c, CPUSet *ret) {
        CPUSet n = {};

        if (c->n_words > 0) {
                n.bits = malloc(c->n_words * sizeof(uint64_t));
                if (!n.bits)
                        return -ENOMEM;
                memcpy(n.bits, c->bits, c->n_words * sizeof(uint64_t));
                n.n_words = c->n_words;
        }
        *ret = n;
        return 0;
}

int pci_address_normalize(const char *s, char **ret) {
        unsigned dom = 0, bus, dev, fn;
        int n = 0;

        if (sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) == 4 && (size_t) n == strlen(s) &&
            strlen(s) == 12)
                ;
        else if (n = 0, dom = 0, sscanf(s, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) == 3 &&
                 (size_t) n == strlen(s) && strlen(s) == 7)
                ;
        else
                return -EINVAL;
        for (const char *p = s; *p; p++)
                if (!isxdigit((unsigned char) *p) && *p != ':' && *p != '.')
                        return -EINVAL;
        if (dev > 0x1f || fn > 7)
                return -EINVAL;
        return asprintf_safe(ret, "%04x:%02x:%02x.%x", dom, bus, dev, fn) < 0 ? -ENOMEM : 0;
}

int mac_address_parse(const char *s, uint8_t ret[6]) {
        unsigned b[6];
        int n = 0;

        if (strlen(s) != 17)
                return -EINVAL;
        if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != 6 ||
            n != 17)
                return -EINVAL;
        for (size_t i = 0; i < 17; i++)
                if ((i % 3 == 2) ? s[i] != ':' : !isxdigit((unsigned char) s[i]))
                        return -EINVAL;
        for (size_t i = 0; i < 6; i++)
                ret[i] = (uint8_t) b[i];
        return 0;
}

bool mac_address_valid(const char *s) {
        uint8_t m[6];
        return mac_address_parse(s, m) >= 0;
}

int cidr_parse(const char *s, int *ret_family, unsigned *ret_prefixlen) {
        _cleanup_free_ char *a = strdup(s);
        unsigned char buf[16];
        char *slash;
        unsigned plen;
        int family;

        if (!a)
                return -ENOMEM;
        slash = strchr(a, '/');
        if (!slash)
                return -EINVAL;
        *slash = 0;
        if (inet_pton(AF_INET, a, buf) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, a, buf) == 1)
                family = AF_INET6;
        else
                return -EINVAL;
        if (parse_unsigned(slash + 1, &plen) < 0 || plen > (family == AF_INET ? 32u : 128u))
                return -EINVAL;
        if (ret_family)
                *ret_family = family;
        if (ret_prefixlen)
                *ret_prefixlen = plen;
        return 0;
}

bool ifname_valid(const char *s) {
        if (isempty(s) || strlen(s) >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || isspace((unsigned char) *p) || (unsigned char) *p < 33 ||
                    (unsigned char) *p > 126)
                        return false;
        return true;
}

bool hostname_valid(const char *s) {
        size_t n = 0;

        if (isempty(s) || strlen(s) > 253 || *s == '.' || *s == '-')
                return false;
        for (const char *p = s; *p; p++) {
                if (*p == '.') {
                        if (n == 0)
                                return false;
                        n = 0;
                        continue;
                }
                if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
                        return false;
                if (++n > 63)
                        return false;
        }
        return n > 0;
}

bool unit_instance_name_valid(const char *s) {
        if (isempty(s) || strlen(s) > 64 || *s == '.' || *s == '-')
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("_.-", *p))
                        return false;
        return true;
}
