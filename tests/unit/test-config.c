/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration model against temporary --root trees: values of every type, the search
 * path (/etc > /run > /usr/local/lib > /usr/lib), same-name and /dev/null masking, drop-ins,
 * empty assignments, X- keys, [Match] Host= and the hash of the effective job. */
#include "config.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static void print_errors(const ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n_errors; i++) {
                _cleanup_free_ char *m = NULL;
                assert_int_equal(config_error_format(&d->errors[i], &m), 0);
                print_error("unexpected config error: %s\n", m);
        }
}

static Config *load_ok(const char *root) {
        Config *c = NULL;

        assert_int_equal(config_load(root, &c), 0);
        print_errors(&c->diagnostics);
        assert_int_equal(c->diagnostics.n_errors, 0);
        return c;
}

static JobConfig *load_job_ok(Config *c, const char *name) {
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        JobConfig *j = NULL;

        assert_int_equal(config_load_job(c, name, &j, &d), 0);
        print_errors(&d);
        assert_int_equal(d.n_errors, 0);
        return j;
}

static void assert_key(const ConfigSection *s, const char *key, const char *expected) {
        const ConfigKey *k = section_type_find_key(s->type, key);
        _cleanup_free_ char *v = NULL;

        assert_non_null(k);
        assert_int_equal(config_key_format(s, k, &v), 0);
        assert_string_equal(v, expected);
}

/* The file:line a key's value came from, relative to root. */
static void assert_origin(const char *root, const ConfigSection *s, const char *key, const char *file,
                          unsigned line) {
        const ConfigKey *k = section_type_find_key(s->type, key);
        _cleanup_free_ char *p = test_path(root, file);
        const ConfigOrigin *o;

        assert_non_null(k);
        o = &s->origins[k - s->type->keys];
        assert_non_null(o->file);
        assert_string_equal(o->file, p);
        assert_int_equal(o->line, line);
}

static void write_hosts(const char *root) {
        test_write(root, "/etc/mhtest/mhtest.conf", "[Host]\nName=host1\n");
        test_write(root, "/etc/mhtest/hosts.d/host1.conf", "[Host]\nAddress=192.0.2.1\n");
        test_write(root, "/etc/mhtest/hosts.d/host2.conf", "[Host]\nAddress=192.0.2.2\nSSHPort=2222\n");
}

static void test_values_every_type(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        const GuestSection *g;
        const MigrationSection *m;

        write_hosts(root);
        test_write(root, "/usr/lib/mhtest/jobs.d/all.conf",
                   "# every value type\n"
                   "[Job]\n"
                   "Description=all the types\n" /* string */
                   "Hosts=host1 host2\n"         /* list */
                   "[Nested]\n"
                   "Enable=auto\n" /* enum */
                   "Module=kvm_amd\n"
                   "Reload=off\n" /* bool */
                   "[HugePages]\n"
                   "Pages=2048K:64 1G:2GiB@0\n"      /* list with item check */
                   "MountPoint=/dev/hugepages-all\n" /* path */
                   "MountPageSize=2M\n"              /* size */
                   "[Storage images]\n"
                   "What=nfs.example.com:/images\n"
                   "Where=/var/lib/images\n"
                   "TimeoutSec=2min\n" /* seconds */
                   "[Testpmd]\n"
                   "Ports=vhost-user:v0 null:n0\n"
                   "Cores=2-3\n" /* cores */
                   "[Guest vm1]\n"
                   "Host=host2\n"
                   "Memory=1536M\n"
                   "VCPUs=2\n" /* unsigned */
                   "Kernel=/var/lib/images/vmlinuz\n"
                   "VCPUPinning=4-5\n" /* CPU set */
                   "Interfaces=vhost-user:v0/52:54:00:AB:CD:EF bridge:br0 management\n"
                   "[Bridge br0]\n"
                   "Address=10.0.0.1/24 fd00::1/64\n"
                   "[Migration m]\n"
                   "Guests=vm1\n"
                   "From=host2\n"
                   "To=host1\n"
                   "MaxDowntime=300\n"                                       /* milliseconds */
                   "Workload=sh -c \"while :; do date; done\" 'two words'\n" /* command */
                   "Bandwidth=1G\n");
        c = load_ok(root);
        assert_string_equal(c->host_name, "host1");
        j = load_job_ok(c, "all");

        assert_string_equal(j->job->description, "all the types");
        assert_int_equal(strv_length(j->job->hosts), 2);
        assert_string_equal(j->job->hosts[1], "host2");
        assert_non_null(j->nested);
        assert_int_equal(j->nested->enable, NESTED_AUTO);
        assert_int_equal(j->nested->module, KVM_MODULE_AMD);
        assert_false(j->nested->reload);
        assert_key(&j->nested->section, "Reload", "no");

        assert_non_null(j->hugepages);
        assert_key(&j->hugepages->section, "Pages", "2M:64 1G:2GiB@0");
        assert_string_equal(j->hugepages->mount_point, "/dev/hugepages-all");
        assert_true(j->hugepages->mount_page_size == 2 * 1024 * 1024);

        assert_int_equal(j->n_storages, 1);
        assert_true(j->storages[0]->timeout_usec == 120 * USEC_PER_SEC);
        assert_string_equal(j->storages[0]->type, "nfs"); /* default */
        assert_false(j->storages[0]->read_only);

        assert_non_null(j->testpmd);
        assert_false(j->testpmd->cores.automatic);
        assert_int_equal(cpu_set_count(&j->testpmd->cores.cpus), 2);
        assert_key(&j->testpmd->section, "Cores", "2-3");
        assert_key(&j->testpmd->section, "Memory", "1G"); /* default */

        assert_int_equal(j->n_guests, 1);
        g = j->guests[0];
        assert_string_equal(g->section.name, "vm1");
        assert_true(g->memory == UINT64_C(1536) << 20);
        assert_int_equal(g->vcpus, 2);
        assert_string_equal(g->kernel, "/var/lib/images/vmlinuz");
        assert_true(cpu_set_isset(&g->vcpu_pinning.cpus, 4));
        assert_true(cpu_set_isset(&g->vcpu_pinning.cpus, 5));
        assert_int_equal(cpu_set_count(&g->vcpu_pinning.cpus), 2);
        assert_int_equal(strv_length(g->interfaces), 3);
        assert_true(g->auto_start); /* default */
        assert_true(g->ready_timeout_usec == 300 * USEC_PER_SEC);

        assert_int_equal(j->n_bridges, 1);
        assert_int_equal(strv_length(j->bridges[0]->addresses), 2);
        assert_key(&j->bridges[0]->section, "DefaultPVID", "1");

        assert_int_equal(j->n_migrations, 1);
        m = j->migrations[0];
        assert_true(m->max_downtime_usec == 300 * USEC_PER_MSEC);
        assert_true(m->bandwidth == UINT64_C(1) << 30);
        assert_int_equal(strv_length(m->workload), 4);
        assert_string_equal(m->workload[2], "while :; do date; done");
        assert_string_equal(m->workload[3], "two words");
        assert_key(&m->section, "Workload", "sh -c \"while :; do date; done\" \"two words\"");
        assert_int_equal(m->mode, MIGRATION_LIVE);
        assert_int_equal(m->transport, MIGRATION_TRANSPORT_SSH);

        assert_origin(root, &g->section, "Memory", "/usr/lib/mhtest/jobs.d/all.conf", 22);
        assert_origin(root, &m->section, "Bandwidth", "/usr/lib/mhtest/jobs.d/all.conf", 35);
}

static void test_hosts(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        const HostConfig *h;

        write_hosts(root);
        test_write(root, "/usr/lib/mhtest/hosts.d/host3.conf",
                   "[Host]\nName=other\nAddress=host3.example.com\n");
        /* IPv6 addresses (and, since a bug fix, only those: "a:b" is no address) */
        test_write(root, "/usr/lib/mhtest/hosts.d/six.conf",
                   "[Host]\nAddress=fd00::1\nMigrationAddress=2001:db8::5\n");
        c = load_ok(root);
        assert_int_equal(c->n_hosts, 4);
        assert_string_equal(config_find_host(c, "six")->host->migration_address, "2001:db8::5");
        h = config_find_host(c, "host2");
        assert_non_null(h);
        assert_string_equal(h->host->address, "192.0.2.2");
        assert_int_equal(h->host->ssh_port, 2222);
        assert_string_equal(h->host->ssh_user, "root"); /* default */
        h = config_find_host(c, "host1");
        assert_non_null(h);
        assert_int_equal(h->host->ssh_port, 22);
        assert_null(config_find_host(c, "host3")); /* Name= overrides the file name */
        assert_non_null(config_find_host(c, "other"));
}

static void test_host_name_from_etc_hostname(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;

        test_write(root, "/etc/hostname", "fromfile\n");
        c = load_ok(root);
        assert_string_equal(c->host_name, "fromfile");
}

/* A file in a higher directory replaces the same name below it completely. */
static void test_search_path_precedence(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *a = NULL, *b = NULL, *d = NULL;
        _cleanup_strv_free_ char **jobs = NULL;
        _cleanup_free_ char *etc_main = test_path(root, "/etc/mhtest/mhtest.conf");

        test_write(root, "/usr/lib/mhtest/mhtest.conf",
                   "[Host]\nName=vendor\n[Safety]\nMinAvailableMemory=3G\n");
        test_write(root, "/etc/mhtest/mhtest.conf", "[Host]\nName=admin\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/a.conf", "[Job]\nDescription=usr-lib\n");
        test_write(root, "/usr/local/lib/mhtest/jobs.d/a.conf", "[Job]\nDescription=usr-local-lib\n");
        test_write(root, "/usr/local/lib/mhtest/jobs.d/b.conf", "[Job]\nDescription=usr-local-lib\n");
        test_write(root, "/run/mhtest/jobs.d/a.conf", "[Job]\nDescription=run\n");
        test_write(root, "/run/mhtest/jobs.d/b.conf", "[Job]\nDescription=run\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/b.conf", "[Job]\nDescription=usr-lib\n[Nested]\n");
        test_write(root, "/etc/mhtest/jobs.d/a.conf", "[Job]\nDescription=etc\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/d.conf", "[Job]\nDescription=usr-lib\n");
        test_write(root, "/usr/local/lib/mhtest/jobs.d/d.conf", "[Job]\nDescription=usr-local-lib\n");

        c = load_ok(root);
        assert_string_equal(c->host_name, "admin");
        /* /usr/lib/mhtest/mhtest.conf is not read at all: its [Safety] does not apply */
        assert_int_equal(strv_length(c->main_files), 1);
        assert_string_equal(c->main_files[0], etc_main);
        assert_true(c->safety->min_available_memory == UINT64_C(1) << 30);

        assert_int_equal(config_list_jobs(c, &jobs), 0);
        assert_int_equal(strv_length(jobs), 3);
        assert_string_equal(jobs[0], "a");
        assert_string_equal(jobs[1], "b");
        assert_string_equal(jobs[2], "d");

        a = load_job_ok(c, "a");
        assert_string_equal(a->job->description, "etc");
        assert_int_equal(strv_length(a->files), 1);
        b = load_job_ok(c, "b");
        assert_string_equal(b->job->description, "run");
        assert_null(b->nested); /* from the masked /usr/lib file */
        d = load_job_ok(c, "d");
        assert_string_equal(d->job->description, "usr-local-lib");
}

static void test_dev_null_masking(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(config_diagnostics_done) ConfigDiagnostics d = {};
        _cleanup_(job_config_freep) JobConfig *j = NULL, *k = NULL;
        _cleanup_strv_free_ char **jobs = NULL;

        write_hosts(root);
        test_write(root, "/usr/lib/mhtest/hosts.d/gone.conf", "[Host]\nAddress=192.0.2.9\n");
        test_symlink(root, "/etc/mhtest/hosts.d/gone.conf", "/dev/null");
        test_write(root, "/usr/lib/mhtest/jobs.d/masked.conf", "[Job]\nDescription=masked\n");
        test_symlink(root, "/etc/mhtest/jobs.d/masked.conf", "/dev/null");
        test_write(root, "/run/mhtest/jobs.d/masked.conf.d/10-x.conf", "[Job]\nDescription=x\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/kept.conf", "[Job]\nDescription=kept\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/kept.conf.d/10-masked.conf", "[Job]\nDescription=dropin\n");
        test_symlink(root, "/run/mhtest/jobs.d/kept.conf.d/10-masked.conf", "/dev/null");
        test_write(root, "/usr/lib/mhtest/mhtest.conf.d/10-name.conf", "[Host]\nName=masked\n");
        test_symlink(root, "/etc/mhtest/mhtest.conf.d/10-name.conf", "/dev/null");

        c = load_ok(root);
        assert_string_equal(c->host_name, "host1");
        assert_int_equal(c->n_hosts, 2);
        assert_null(config_find_host(c, "gone"));

        assert_int_equal(config_list_jobs(c, &jobs), 0);
        assert_int_equal(strv_length(jobs), 1);
        assert_string_equal(jobs[0], "kept");
        assert_int_equal(config_load_job(c, "masked", &j, &d), -ENOENT);
        assert_null(j);

        k = load_job_ok(c, "kept");
        assert_string_equal(k->job->description, "kept");
        assert_int_equal(strv_length(k->files), 1);
}

/* Drop-ins of all directories are applied in the lexical order of their file names; a drop-in
 * in a higher directory replaces the one of the same name below. */
static void test_dropins_order(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *f0 = NULL, *f1 = NULL, *f2 = NULL, *f3 = NULL, *f4 = NULL;

        write_hosts(root);
        test_write(root, "/usr/lib/mhtest/jobs.d/d.conf",
                   "[Job]\nDescription=main\n[Guest g]\nImage=/a.img\nMemory=1G\n");
        test_write(root, "/etc/mhtest/jobs.d/d.conf.d/10-first.conf", "[Guest g]\nMemory=2G\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/d.conf.d/20-second.conf",
                   "[Guest g]\nMemory=3G\nVCPUs=3\n");
        test_write(root, "/run/mhtest/jobs.d/d.conf.d/30-third.conf", "[Job]\n\nDescription=third\n");
        test_write(root, "/usr/local/lib/mhtest/jobs.d/d.conf.d/40-last.conf", "[Guest g]\nVCPUs=4\n");
        test_write(root, "/usr/lib/mhtest/jobs.d/d.conf.d/40-last.conf", "[Guest g]\nVCPUs=5\nMemory=5G\n");
        test_write(root, "/etc/mhtest/jobs.d/d.conf.d/README", "not a .conf file\n");

        c = load_ok(root);
        j = load_job_ok(c, "d");
        f0 = test_path(root, "/usr/lib/mhtest/jobs.d/d.conf");
        f1 = test_path(root, "/etc/mhtest/jobs.d/d.conf.d/10-first.conf");
        f2 = test_path(root, "/usr/lib/mhtest/jobs.d/d.conf.d/20-second.conf");
        f3 = test_path(root, "/run/mhtest/jobs.d/d.conf.d/30-third.conf");
        f4 = test_path(root, "/usr/local/lib/mhtest/jobs.d/d.conf.d/40-last.conf");
        assert_int_equal(strv_length(j->files), 5);
        assert_string_equal(j->files[0], f0);
        assert_string_equal(j->files[1], f1);
        assert_string_equal(j->files[2], f2);
        assert_string_equal(j->files[3], f3);
        assert_string_equal(j->files[4], f4);

        assert_int_equal(j->n_guests, 1);
        assert_true(j->guests[0]->memory == UINT64_C(3) << 30);
        assert_int_equal(j->guests[0]->vcpus, 4);
        assert_string_equal(j->job->description, "third");
        assert_origin(root, &j->guests[0]->section, "Memory",
                      "/usr/lib/mhtest/jobs.d/d.conf.d/20-second.conf", 2);
        assert_origin(root, &j->guests[0]->section, "VCPUs",
                      "/usr/local/lib/mhtest/jobs.d/d.conf.d/40-last.conf", 2);
        assert_origin(root, &j->job->section, "Description", "/run/mhtest/jobs.d/d.conf.d/30-third.conf", 3);
}

static void test_empty_assignment_resets(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;

        write_hosts(root);
        test_write(root, "/usr/lib/mhtest/jobs.d/e.conf",
                   "[Job]\nHosts=host1\nHosts=host2\n"
                   "[HugePages]\nPages=2M:16\n"
                   "[Guest g]\nImage=/a.img\nMemory=1G\nInterfaces=management\n"
                   "[Testpmd]\nPorts=null:a\nExtraArguments=--a --b\n");
        test_write(root, "/etc/mhtest/jobs.d/e.conf.d/50-reset.conf",
                   "[Job]\nHosts=\nHosts=host2 host1\n"
                   "[HugePages]\nPages=\n"
                   "[Guest g]\nMemory=\nInterfaces=\n"
                   "[Testpmd]\nPorts=null:b\nExtraArguments=--c\n");
        c = load_ok(root);
        j = load_job_ok(c, "e");
        /* lists: appended across assignments and files, reset by an empty one */
        assert_int_equal(strv_length(j->job->hosts), 2);
        assert_string_equal(j->job->hosts[0], "host2");
        assert_string_equal(j->job->hosts[1], "host1");
        assert_int_equal(strv_length(j->hugepages->pages), 0);
        assert_int_equal(strv_length(j->guests[0]->interfaces), 0);
        assert_key(&j->testpmd->section, "Ports", "null:a null:b");
        /* a command line is replaced, not appended */
        assert_key(&j->testpmd->section, "ExtraArguments", "--c");
        /* a scalar goes back to its default */
        assert_true(j->guests[0]->memory == UINT64_C(256) << 20);
        assert_origin(root, &j->guests[0]->section, "Memory", "/etc/mhtest/jobs.d/e.conf.d/50-reset.conf",
                      7);
}

static void test_x_keys_ignored(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;

        write_hosts(root);
        test_write(root, "/etc/mhtest/mhtest.conf.d/x.conf", "[Safety]\nX-Site-Policy=strict\n");
        test_write(root, "/etc/mhtest/jobs.d/x.conf",
                   "[Job]\nX-Owner=qe-team\nDescription=x\n[Nested]\nX-Note=anything = goes; here\n");
        test_write(root, "/etc/mhtest/jobs.d/x.conf.d/10-m.conf", "[Match]\nX-Why=because\nHost=host1\n");
        c = load_ok(root);
        j = load_job_ok(c, "x");
        assert_string_equal(j->job->description, "x");
}

static void test_match_host(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;

        write_hosts(root);
        test_write(root, "/etc/mhtest/jobs.d/m.conf", "[Job]\nHosts=host1 host2\n[Guest g]\nImage=/a.img\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/10-exact.conf",
                   "[Match]\nHost=host1\n[Guest g]\nVCPUs=2\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/20-other.conf",
                   "[Match]\nHost=host2\n[Guest g]\nVCPUs=9\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/30-glob.conf",
                   "[Match]\nHost=host*\n[Guest g]\nMemory=2G\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/40-noglob.conf",
                   "[Match]\nHost=h?st[2-9]\n[Guest g]\nMemory=9G\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/50-list.conf",
                   "[Match]\nHost=nothere host1\n[Guest g]\nDescription=list\n");
        /* several Host= lines: any of them matches */
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/60-lines.conf",
                   "[Guest g]\nCPUModel=before\n[Match]\nHost=nope\nHost=h?st1\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/70-nomatch.conf",
                   "[Match]\nHost=[!h]*\n[Guest g]\nMachine=q35\n");
        c = load_ok(root);
        j = load_job_ok(c, "m");
        assert_int_equal(j->guests[0]->vcpus, 2);
        assert_true(j->guests[0]->memory == UINT64_C(2) << 30);
        assert_string_equal(j->guests[0]->description, "list");
        assert_string_equal(j->guests[0]->cpu_model, "before");
        assert_string_equal(j->guests[0]->machine, "pc");
}

static void test_match_other_host(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;

        write_hosts(root);
        /* the same tree seen from host2 */
        test_write(root, "/etc/mhtest/mhtest.conf.d/50-me.conf", "[Host]\nName=host2\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf", "[Job]\nHosts=host1 host2\n[Guest g]\nImage=/a.img\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/10-exact.conf",
                   "[Match]\nHost=host1\n[Guest g]\nVCPUs=2\n");
        test_write(root, "/etc/mhtest/jobs.d/m.conf.d/20-other.conf",
                   "[Match]\nHost=host2\n[Guest g]\nVCPUs=9\n");
        c = load_ok(root);
        assert_string_equal(c->host_name, "host2");
        j = load_job_ok(c, "m");
        assert_int_equal(j->guests[0]->vcpus, 9);
}

static void test_job_steps(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *a = NULL, *b = NULL, *o = NULL;
        _cleanup_strv_free_ char **sa = NULL, **sb = NULL, **so = NULL, **sh2 = NULL;
        _cleanup_free_ char *ja = NULL;

        write_hosts(root);
        test_write(root, "/etc/mhtest/jobs.d/all.conf",
                   "[Job]\n[Testpmd]\nPorts=vfio:04:00.0\n[VFIO]\nDevices=0000:04:00.0\n"
                   "[Bridge b0]\n[HugePages]\nPages=2M:8\n[Nested]\n");
        test_write(root, "/etc/mhtest/jobs.d/few.conf",
                   "[Job]\n[Nested]\nEnable=no\n[HugePages]\n[Bridge b1]\n");
        test_write(root, "/etc/mhtest/jobs.d/other.conf", "[Job]\nHosts=host2\n[Nested]\n");
        c = load_ok(root);
        a = load_job_ok(c, "all");
        assert_int_equal(job_steps(a, "host1", &sa), 0);
        ja = strv_join(sa, " ");
        assert_string_equal(ja, "nested hugepages vfio bridge testpmd"); /* apply order */
        b = load_job_ok(c, "few");
        assert_int_equal(job_steps(b, "host1", &sb), 0);
        assert_int_equal(strv_length(sb), 1);
        assert_string_equal(sb[0], "bridge");
        o = load_job_ok(c, "other");
        assert_false(job_runs_on_host(o, "host1"));
        assert_true(job_runs_on_host(o, "host2"));
        assert_int_equal(job_steps(o, "host1", &so), 0);
        assert_int_equal(strv_length(so), 0);
        assert_int_equal(job_steps(o, "host2", &sh2), 0);
        assert_int_equal(strv_length(sh2), 1);
}

static void test_show_origins(void **state) {
        const char *root = *state;
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_(job_config_freep) JobConfig *j = NULL;
        _cleanup_free_ char *buf = NULL, *where = NULL;
        size_t size = 0;
        FILE *f;

        write_hosts(root);
        test_write(root, "/etc/mhtest/jobs.d/s.conf",
                   "[Job]\nDescription=shown\n\n[Bridge br0]\nMTU=9000\n");
        c = load_ok(root);
        j = load_job_ok(c, "s");
        f = open_memstream(&buf, &size);
        assert_non_null(f);
        assert_int_equal(section_list_dump(&j->sections, f, false), 0);
        assert_int_equal(fclose(f), 0);
        where = test_path(root, "/etc/mhtest/jobs.d/s.conf:5");
        assert_non_null(strstr(buf, "MTU=9000"));
        assert_non_null(strstr(buf, where));
        assert_non_null(strstr(buf, "[Bridge br0]"));
        assert_null(strstr(buf, "STP=")); /* defaults only with --all */
}

/* ---- hash ---- */

static char *job_hash(const char *root, const char *name) {
        _cleanup_(config_freep) Config *c = load_ok(root);
        _cleanup_(job_config_freep) JobConfig *j = load_job_ok(c, name);
        char *h = NULL;

        assert_int_equal(job_config_hash(j, &h), 0);
        assert_int_equal(strlen(h), 64);
        return h;
}

static const char hash_job_one_file[] = "[Job]\n"
                                        "Description=hash me\n"
                                        "Hosts=host1 host2\n"
                                        "[HugePages]\n"
                                        "Pages=2M:512\n"
                                        "[Bridge br0]\n"
                                        "STP=no\n"
                                        "Ports=eth1\n"
                                        "[Guest vm1]\n"
                                        "Memory=1G\n"
                                        "Kernel=/images/vmlinuz\n"
                                        "Interfaces=bridge:br0/52:54:00:00:00:01\n"
                                        "[Migration m]\n"
                                        "Guests=vm1\n"
                                        "From=host1\n"
                                        "To=host2\n"
                                        "MaxDowntime=500ms\n";

static void write_hash_split(const char *root, const char *guest_memory) {
        _cleanup_free_ char *guest = NULL;

        write_hosts(root);
        /* sections and keys in another order, split over directories and drop-ins, values
         * spelled differently, defaults written out, a list built over several lines */
        test_write(root, "/usr/lib/mhtest/jobs.d/h.conf",
                   "[Migration m]\nTo=host2\nFrom=host1\nGuests=vm1\nMaxDowntime=500\n"
                   "[Job]\nHosts=host1\nDescription=old text\n");
        asprintf_safe(&guest,
                      "[Guest vm1]\nKernel=/images/vmlinuz\nMemory=%s\nVCPUs=1\n"
                      "Interfaces=bridge:br0/52:54:00:00:00:01\n",
                      guest_memory);
        assert_non_null(guest);
        test_write(root, "/run/mhtest/jobs.d/h.conf.d/10-guest.conf", guest);
        test_write(root, "/etc/mhtest/jobs.d/h.conf.d/20-job.conf",
                   "[Job]\nDescription=hash me\nHosts=host2\n[Bridge br0]\nPorts=eth1\nSTP=false\n"
                   "[HugePages]\nPages=2048K:256\nPages=\nPages=2M:512\n");
        test_write(root, "/usr/local/lib/mhtest/jobs.d/h.conf.d/30-x.conf", "[Job]\nX-Comment=ignored\n");
}

static void test_hash_stability(void **state) {
        const char *root = *state;
        _cleanup_free_ char *one = test_path(root, "/one"), *split = test_path(root, "/split"),
                            *changed = test_path(root, "/changed"), *h1 = NULL, *h2 = NULL, *h3 = NULL,
                            *h4 = NULL;

        write_hosts(one);
        test_write(one, "/etc/mhtest/jobs.d/h.conf", hash_job_one_file);
        write_hash_split(split, "1024M");
        write_hash_split(changed, "1025M");

        h1 = job_hash(one, "h");
        h2 = job_hash(split, "h");
        assert_string_equal(h1, h2);
        /* stable: the same input gives the same hash again */
        h4 = job_hash(one, "h");
        assert_string_equal(h1, h4);
        /* one value changed: another hash */
        h3 = job_hash(changed, "h");
        assert_string_not_equal(h1, h3);
}

static void test_hash_changes(void **state) {
        const char *root = *state;
        const char *variants[] = {
                "[Job]\nDescription=hash me!\n", /* text */
                "[Job]\nHosts=host2 host1\n",    /* list order matters (Hosts= reset below) */
                "[Guest vm1]\nAutoStart=no\n",   /* a default made explicit to another value */
                "[Bridge br1]\n",                /* a new section */
                "[Migration m]\nMaxDowntime=501ms\n",
        };
        _cleanup_free_ char *base_root = test_path(root, "/base"), *h0 = NULL;

        write_hosts(base_root);
        test_write(base_root, "/etc/mhtest/jobs.d/h.conf", hash_job_one_file);
        h0 = job_hash(base_root, "h");

        for (size_t i = 0; i < ELEMENTSOF(variants); i++) {
                _cleanup_free_ char *r = NULL, *rel = NULL, *h = NULL, *dropin = NULL;

                assert_int_equal(asprintf_safe(&rel, "/v%zu", i) > 0, 1);
                r = test_path(root, rel);
                write_hosts(r);
                test_write(r, "/etc/mhtest/jobs.d/h.conf", hash_job_one_file);
                dropin = i == 1 ? strjoin("[Job]\nHosts=\n", variants[i] + strlen("[Job]\n"))
                                : strdup(variants[i]);
                assert_non_null(dropin);
                test_write(r, "/etc/mhtest/jobs.d/h.conf.d/90-change.conf", dropin);
                h = job_hash(r, "h");
                assert_string_not_equal(h0, h);
        }
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, test_root_setup, test_root_teardown)
        const struct CMUnitTest tests[] = {
                T(test_values_every_type),
                T(test_hosts),
                T(test_host_name_from_etc_hostname),
                T(test_search_path_precedence),
                T(test_dev_null_masking),
                T(test_dropins_order),
                T(test_empty_assignment_resets),
                T(test_x_keys_ignored),
                T(test_match_host),
                T(test_match_other_host),
                T(test_job_steps),
                T(test_show_origins),
                T(test_hash_stability),
                T(test_hash_changes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
