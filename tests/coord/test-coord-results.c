/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The coordinator's planning and results, on jobs loaded through the real config code from a
 * temporary --root tree: the schedule (phases, ping-pong directions, parallel groups,
 * synchronized sections and their barriers), the [Migration] limits against libvirt's figures,
 * and the reports (key=value, JSON, JUnit read back with libxml2). */
#include <pthread.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include "config.h"
#include "report.h"
#include "schedule.h"
#include "string-util.h"
#include "strv.h"
#include "tests.h"

static const char job_text[] =
        "[Job]\nHosts=h1 h2\n"
        "[Guest g1]\nHost=h1\nKernel=/k\n[Guest g2]\nHost=h1\nKernel=/k\n"
        "[Guest g3]\nHost=h1\nKernel=/k\n[Guest g4]\nHost=h2\nKernel=/k\n"
        "[Migration pair]\nGuests=g1 g2\nFrom=h1\nTo=h2\nRounds=2\nPingPong=yes\n"
        "[Migration a]\nGuests=g3\nFrom=h1\nTo=h2\nParallelGroup=grp\n"
        "[Migration b]\nGuests=g4\nFrom=h2\nTo=h1\nParallelGroup=grp\nRounds=2\n"
        "[Migration loose]\nGuests=g1 g2\nFrom=h1\nTo=h2\nSynchronized=no\n"
        "[Migration limited]\nGuests=g1\nFrom=h1\nTo=h2\nMaxDowntime=100ms\n"
        "MaxDowntimeLimit=300ms\nMaxTotalTime=2s\nMaxData=64M\n";

typedef struct Fixture {
        char *root;
        Config *config;
        JobConfig *job;
} Fixture;

static int setup(void **state) {
        ConfigDiagnostics d = {};
        Fixture *f = calloc(1, sizeof(Fixture));
        void *root;

        assert_non_null(f);
        assert_int_equal(test_root_setup(&root), 0);
        f->root = root;
        test_write(f->root, "/etc/mhtest/hosts.d/h1.conf", "[Host]\nAddress=192.0.2.1\n");
        test_write(f->root, "/etc/mhtest/hosts.d/h2.conf", "[Host]\nAddress=192.0.2.2\n");
        test_write(f->root, "/etc/mhtest/jobs.d/mig.conf", job_text);
        assert_int_equal(config_load(f->root, &f->config), 0);
        assert_int_equal(config_load_job(f->config, "mig", &f->job, &d), 0);
        assert_int_equal(d.n_errors, 0);
        config_diagnostics_done(&d);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        void *root = f->root;

        job_config_free(f->job);
        config_free(f->config);
        free(f);
        return test_root_teardown(&root);
}

static const MigrationSection *section(const JobConfig *j, const char *name) {
        for (size_t i = 0; i < j->n_migrations; i++)
                if (streq(j->migrations[i]->section.name, name))
                        return j->migrations[i];
        fail_msg("no [Migration %s]", name);
        return NULL;
}

static void assert_step(const MigrationStep *st, const char *migration, const char *guest, unsigned round,
                        const char *from, const char *to) {
        assert_string_equal(st->migration->section.name, migration);
        assert_string_equal(st->guest, guest);
        assert_int_equal(st->round, round);
        assert_string_equal(st->from, from);
        assert_string_equal(st->to, to);
}

static void test_schedule(void **state) {
        Fixture *f = *state;
        Schedule s = {};

        assert_int_equal(schedule_build(f->job, &s), 0);
        assert_int_equal(s.n_phases, 6);

        /* a synchronized section: both guests in one phase, one barrier for the two */
        assert_string_equal(s.phases[0].label, "pair round 1/2");
        assert_int_equal(s.phases[0].n_steps, 2);
        assert_step(&s.phases[0].steps[0], "pair", "g1", 1, "h1", "h2");
        assert_step(&s.phases[0].steps[1], "pair", "g2", 1, "h1", "h2");
        assert_non_null(s.phases[0].steps[0].barrier);
        assert_ptr_equal(s.phases[0].steps[0].barrier, s.phases[0].steps[1].barrier);
        assert_int_equal(s.phases[0].steps[0].barrier->expected, 2);
        /* ping-pong: round 2 comes back, with a barrier of its own */
        assert_string_equal(s.phases[1].label, "pair round 2/2");
        assert_step(&s.phases[1].steps[0], "pair", "g1", 2, "h2", "h1");
        assert_step(&s.phases[1].steps[1], "pair", "g2", 2, "h2", "h1");
        assert_ptr_not_equal(s.phases[1].steps[0].barrier, s.phases[0].steps[0].barrier);

        /* a parallel group where its first member is, round by round; b has one round more */
        assert_string_equal(s.phases[2].label, "grp round 1/2");
        assert_int_equal(s.phases[2].n_steps, 2);
        assert_step(&s.phases[2].steps[0], "a", "g3", 1, "h1", "h2");
        assert_step(&s.phases[2].steps[1], "b", "g4", 1, "h2", "h1");
        assert_null(s.phases[2].steps[0].barrier); /* one guest each: nothing to wait for */
        assert_string_equal(s.phases[3].label, "grp round 2/2");
        assert_int_equal(s.phases[3].n_steps, 1);
        assert_step(&s.phases[3].steps[0], "b", "g4", 2, "h2", "h1"); /* no PingPong: same way */

        /* Synchronized=no: in one phase, not held together */
        assert_string_equal(s.phases[4].label, "loose round 1/1");
        assert_int_equal(s.phases[4].n_steps, 2);
        assert_null(s.phases[4].steps[0].barrier);
        assert_null(s.phases[4].steps[1].barrier);
        assert_string_equal(s.phases[5].label, "limited round 1/1");

        json_object *o = schedule_to_json(f->job, &s), *phases, *p0, *steps, *x, *v;
        assert_true(json_object_object_get_ex(o, "phases", &phases));
        assert_int_equal(json_object_array_length(phases), 6);
        p0 = json_object_array_get_idx(phases, 0);
        assert_true(json_object_object_get_ex(p0, "migrations", &steps));
        x = json_object_array_get_idx(steps, 1);
        assert_true(json_object_object_get_ex(x, "synchronized", &v));
        assert_true(json_object_get_boolean(v));
        json_object_put(o);
        schedule_done(&s);
        assert_int_equal(s.n_phases, 0);
}

typedef struct Arrival {
        SyncBarrier *b;
        bool wait;
        bool returned;
} Arrival;

static void *arrive(void *p) {
        Arrival *a = p;
        sync_barrier_arrive(a->b, a->wait);
        __atomic_store_n(&a->returned, true, __ATOMIC_SEQ_CST);
        return NULL;
}

static void test_barrier(void **state) {
        Fixture *f = *state;
        Schedule s = {};
        pthread_t t1, t2;

        assert_int_equal(schedule_build(f->job, &s), 0);
        SyncBarrier *b = s.phases[0].steps[0].barrier;
        Arrival waiter = { .b = b, .wait = true }, dropout = { .b = b, .wait = false };

        assert_int_equal(pthread_create(&t1, NULL, arrive, &waiter), 0);
        /* the waiter is held until the other guest arrives: here, drops out (its workload failed) */
        pthread_mutex_lock(&b->lock);
        while (b->arrived < 1)
                pthread_mutex_unlock(&b->lock), usleep(1000), pthread_mutex_lock(&b->lock);
        pthread_mutex_unlock(&b->lock);
        assert_false(__atomic_load_n(&waiter.returned, __ATOMIC_SEQ_CST));
        assert_int_equal(pthread_create(&t2, NULL, arrive, &dropout), 0);
        assert_int_equal(pthread_join(t2, NULL), 0);
        assert_int_equal(pthread_join(t1, NULL), 0);
        assert_true(waiter.returned);
        assert_int_equal(b->arrived, 2);
        schedule_done(&s);
}

static MigrationStep limited_step;

static void result_init(Fixture *f, MigrationResult *r) {
        limited_step = (MigrationStep) { .migration = section(f->job, "limited"), .guest = "g1", .round = 1,
                                         .from = "h1", .to = "h2" };
        *r = (MigrationResult) { .step = &limited_step, .check = -1, .ok = true, .wall_ms = 1500 };
        r->domain = strdup("mhtest-mig-g1");
}

static void test_limits(void **state) {
        Fixture *f = *state;
        const MigrationSection *m = section(f->job, "limited");
        MigrationResult r;
        char *reason = NULL;

        /* tuning and limits are separate keys */
        assert_int_equal(m->max_downtime_usec, 100 * 1000);
        assert_int_equal(m->max_downtime_limit_usec, 300 * 1000);
        assert_int_equal(m->max_total_time_usec, 2 * 1000 * 1000);
        assert_int_equal(m->max_data, 64 << 20);

        result_init(f, &r);
        /* no figures from libvirt: a limit cannot pass silently */
        assert_int_equal(migration_limits_check(m, &r, &reason), -ENODATA);
        assert_non_null(strstr(reason, "no downtime to check MaxDowntimeLimit="));
        free(reason);

        migration_result_set_stat(&r, MIGRATION_STAT_DOWNTIME, 300); /* at the limit: passes */
        migration_result_set_stat(&r, MIGRATION_STAT_TIME_ELAPSED, 1999);
        migration_result_set_stat(&r, MIGRATION_STAT_DATA_PROCESSED, 64 << 20);
        assert_int_equal(migration_limits_check(m, &r, NULL), 0);

        migration_result_set_stat(&r, MIGRATION_STAT_DOWNTIME, 301);
        assert_int_equal(migration_limits_check(m, &r, &reason), -ERANGE);
        assert_string_equal(reason, "downtime 301 ms exceeds MaxDowntimeLimit=300 ms");
        free(reason);

        migration_result_set_stat(&r, MIGRATION_STAT_DOWNTIME, 12);
        migration_result_set_stat(&r, MIGRATION_STAT_TIME_ELAPSED, 2001);
        assert_int_equal(migration_limits_check(m, &r, &reason), -ERANGE);
        assert_string_equal(reason, "total time 2001 ms exceeds MaxTotalTime=2000 ms");
        free(reason);

        migration_result_set_stat(&r, MIGRATION_STAT_TIME_ELAPSED, 10);
        migration_result_set_stat(&r, MIGRATION_STAT_DATA_PROCESSED, (64 << 20) + 1);
        assert_int_equal(migration_limits_check(m, &r, &reason), -ERANGE);
        assert_string_equal(reason, "data transferred 67108865 bytes exceeds MaxData=67108864 bytes");
        free(reason);

        /* a section without limits judges nothing */
        assert_int_equal(migration_limits_check(section(f->job, "pair"), &r, NULL), 0);
        migration_result_done(&r);
}

static void test_kv_json(void **state) {
        Fixture *f = *state;
        MigrationResult r;
        char **kv = NULL;
        json_object *o, *stats, *v;

        result_init(f, &r);
        migration_result_set_stat(&r, MIGRATION_STAT_DOWNTIME, 42);
        migration_result_set_stat(&r, MIGRATION_STAT_MEMORY_ITERATION, 3);
        r.error = strdup("two\nlines");
        r.ok = false;
        assert_int_equal(migration_result_to_kv(&r, &kv), 0);
        assert_true(strv_contains(kv, "migration=limited"));
        assert_true(strv_contains(kv, "guest=g1"));
        assert_true(strv_contains(kv, "from=h1"));
        assert_true(strv_contains(kv, "to=h2"));
        assert_true(strv_contains(kv, "passed=false"));
        assert_true(strv_contains(kv, "downtime=42"));
        assert_true(strv_contains(kv, "memory_iteration=3"));
        assert_true(strv_contains(kv, "error=two lines"));
        assert_false(strv_contains(kv, "setup_time=0")); /* not given by libvirt: not reported */
        strv_free(kv);

        o = migration_result_to_json(&r);
        assert_true(json_object_object_get_ex(o, "downtime_ms", &v));
        assert_int_equal(json_object_get_int64(v), 42);
        assert_true(json_object_object_get_ex(o, "stats", &stats));
        assert_int_equal(json_object_object_length(stats), 2);
        assert_true(json_object_object_get_ex(stats, "memory_iteration", &v));
        assert_int_equal(json_object_get_int64(v), 3);
        assert_true(json_object_object_get_ex(o, "passed", &v));
        assert_false(json_object_get_boolean(v));
        json_object_put(o);
        migration_result_done(&r);
}

static char *xpath_string(xmlDocPtr doc, const char *expr) {
        xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
        xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
        char *s = strdup(o && o->type == XPATH_STRING ? (const char *) o->stringval : "");

        xmlXPathFreeObject(o);
        xmlXPathFreeContext(ctx);
        return s;
}

static void assert_xpath(xmlDocPtr doc, const char *expr, const char *expected) {
        _cleanup_free_ char *s = xpath_string(doc, expr);
        if (!streq(s, expected))
                fail_msg("%s: expected \"%s\", got \"%s\"", expr, expected, s);
}

static void test_junit(void **state) {
        Fixture *f = *state;
        MigrationResult a, b;
        MigrationResult *all[] = { &a, &b };
        ReportHost hosts[] = { { .name = "h1", .ok = true, .state = "active" },
                               { .name = "h2", .ok = false, .state = "failed", .error = "dependency failed" } };
        _cleanup_free_ char *path = test_path(f->root, "/result.xml");
        xmlDocPtr doc;

        result_init(f, &a);
        migration_result_set_stat(&a, MIGRATION_STAT_DOWNTIME, 37);
        migration_result_set_stat(&a, MIGRATION_STAT_DATA_PROCESSED, 93000000);
        result_init(f, &b);
        b.ok = false;
        b.error = strdup("downtime 301 ms exceeds MaxDowntimeLimit=300 ms");
        assert_int_equal(report_write_junit(path, "mig", all, 2, hosts, 2, NULL), 0);

        doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
        assert_non_null(doc);
        assert_xpath(doc, "string(/testsuite/@tests)", "4");
        assert_xpath(doc, "string(/testsuite/@failures)", "2");
        assert_xpath(doc, "string(/testsuite/testcase[2]/failure/@message)", "dependency failed");
        assert_xpath(doc, "string(/testsuite/testcase[3]/@classname)", "migration.limited");
        assert_xpath(doc, "string(/testsuite/testcase[3]/@name)", "g1 round 1 h1->h2");
        assert_xpath(doc, "string(/testsuite/testcase[3]/@time)", "1.500");
        assert_xpath(doc, "string(count(/testsuite/testcase[3]/failure))", "0");
        assert_xpath(doc, "string(/testsuite/testcase[3]/properties/property[@name='downtime']/@value)", "37");
        assert_xpath(doc, "string(/testsuite/testcase[3]/properties/property[@name='data_processed']/@value)",
                     "93000000");
        assert_xpath(doc, "string(/testsuite/testcase[4]/failure/@message)",
                     "downtime 301 ms exceeds MaxDowntimeLimit=300 ms");
        {
                _cleanup_free_ char *out = xpath_string(doc, "string(/testsuite/testcase[3]/system-out)");
                assert_non_null(strstr(out, "downtime=37\n"));
        }
        xmlFreeDoc(doc);

        /* an unwritable place: an error, no file */
        assert_true(report_write_junit("/nonexistent-dir/x.xml", "mig", all, 2, hosts, 2, NULL) < 0);
        migration_result_done(&a);
        migration_result_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_schedule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_barrier, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kv_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_junit, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
