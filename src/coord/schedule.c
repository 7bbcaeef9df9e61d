/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "schedule.h"
#include "string-util.h"
#include "strv.h"

void sync_barrier_arrive(SyncBarrier *b, bool wait) {
        if (!b)
                return;
        pthread_mutex_lock(&b->lock);
        b->arrived++;
        if (b->arrived >= b->expected)
                pthread_cond_broadcast(&b->cond);
        while (wait && b->arrived < b->expected)
                pthread_cond_wait(&b->cond, &b->lock);
        pthread_mutex_unlock(&b->lock);
}

static SyncBarrier *sync_barrier_free(SyncBarrier *b) {
        if (b) {
                pthread_mutex_destroy(&b->lock);
                pthread_cond_destroy(&b->cond);
                free(b);
        }
        return NULL;
}

void schedule_done(Schedule *s) {
        for (size_t i = 0; i < s->n_phases; i++) {
                free(s->phases[i].label);
                free(s->phases[i].steps);
                for (size_t k = 0; k < s->phases[i].n_barriers; k++)
                        sync_barrier_free(s->phases[i].barriers[k]);
                free(s->phases[i].barriers);
        }
        free(s->phases);
        *s = (Schedule) {};
}

static int phase_add_step(SchedulePhase *p, MigrationStep st) {
        MigrationStep *n = realloc(p->steps, sizeof(MigrationStep) * (p->n_steps + 1));
        if (!n)
                return -ENOMEM;
        p->steps = n;
        p->steps[p->n_steps++] = st;
        return 0;
}

static int schedule_add_phase(Schedule *s, const char *label, SchedulePhase **ret) {
        SchedulePhase *n = realloc(s->phases, sizeof(SchedulePhase) * (s->n_phases + 1));
        if (!n)
                return -ENOMEM;
        s->phases = n;
        n = &s->phases[s->n_phases];
        *n = (SchedulePhase) { .label = strdup(label) };
        if (!n->label)
                return -ENOMEM;
        s->n_phases++;
        *ret = n;
        return 0;
}

/* One barrier for the n guests of a synchronized section in this phase. */
static int phase_add_barrier(SchedulePhase *p, unsigned n, SyncBarrier **ret) {
        SyncBarrier **l = realloc(p->barriers, sizeof(SyncBarrier *) * (p->n_barriers + 1)), *b;

        if (!l)
                return -ENOMEM;
        p->barriers = l;
        b = calloc(1, sizeof(SyncBarrier));
        if (!b)
                return -ENOMEM;
        pthread_mutex_init(&b->lock, NULL);
        pthread_cond_init(&b->cond, NULL);
        b->expected = n;
        p->barriers[p->n_barriers++] = b;
        *ret = b;
        return 0;
}

/* Round r of a ping-pong migration goes back where round r-1 came from. */
static void round_direction(const MigrationSection *m, unsigned round, const char **from, const char **to) {
        bool back = m->ping_pong && round % 2 == 0;
        *from = back ? m->to : m->from;
        *to = back ? m->from : m->to;
}

int schedule_build(const JobConfig *j, Schedule *ret) {
        _cleanup_(schedule_done) Schedule s = {};
        _cleanup_strv_free_ char **groups_done = calloc(1, sizeof(char *));
        int r;

        if (!groups_done)
                return -ENOMEM;
        /* Migrations in declaration order; a parallel group is scheduled where its first
         * member appears, its members' round r all together. */
        for (size_t i = 0; i < j->n_migrations; i++) {
                const MigrationSection *m = j->migrations[i];
                const char *group = m->parallel_group;
                unsigned rounds = 0;

                if (group && strv_contains(groups_done, group))
                        continue;
                if (group && strv_extend(&groups_done, group) < 0)
                        return -ENOMEM;
                for (size_t k = i; k < j->n_migrations; k++)
                        if (k == i || (group && streq_ptr(j->migrations[k]->parallel_group, group)))
                                rounds = MAX(rounds, j->migrations[k]->rounds);

                for (unsigned round = 1; round <= rounds; round++) {
                        _cleanup_free_ char *label = NULL;
                        SchedulePhase *p;

                        if (asprintf_safe(&label, "%s round %u/%u", group ?: m->section.name, round, rounds) < 0)
                                return -ENOMEM;
                        r = schedule_add_phase(&s, label, &p);
                        if (r < 0)
                                return r;
                        for (size_t k = i; k < j->n_migrations; k++) {
                                const MigrationSection *x = j->migrations[k];
                                if (k != i && (!group || !streq_ptr(x->parallel_group, group)))
                                        continue;
                                SyncBarrier *b = NULL;

                                if (round > x->rounds)
                                        continue;
                                if (x->synchronized && strv_length(x->guests) > 1) {
                                        r = phase_add_barrier(p, strv_length(x->guests), &b);
                                        if (r < 0)
                                                return r;
                                }
                                STRV_FOREACH(g, x->guests) {
                                        MigrationStep st = { .migration = x, .guest = *g, .round = round,
                                                             .barrier = b };
                                        round_direction(x, round, &st.from, &st.to);
                                        r = phase_add_step(p, st);
                                        if (r < 0)
                                                return r;
                                }
                        }
                }
        }
        *ret = s;
        s = (Schedule) {};
        return 0;
}

json_object *schedule_to_json(const JobConfig *j, const Schedule *s) {
        json_object *o = json_object_new_object(), *phases = json_object_new_array();

        json_object_object_add(o, "job", json_object_new_string(j->name));
        json_object_object_add(o, "phases", phases);
        for (size_t i = 0; i < s->n_phases; i++) {
                json_object *p = json_object_new_object(), *steps = json_object_new_array();

                json_object_object_add(p, "label", json_object_new_string(s->phases[i].label));
                json_object_object_add(p, "migrations", steps);
                for (size_t k = 0; k < s->phases[i].n_steps; k++) {
                        const MigrationStep *st = &s->phases[i].steps[k];
                        json_object *x = json_object_new_object();
                        json_object_object_add(x, "migration", json_object_new_string(st->migration->section.name));
                        json_object_object_add(x, "guest", json_object_new_string(st->guest));
                        json_object_object_add(x, "round", json_object_new_int((int) st->round));
                        json_object_object_add(x, "from", json_object_new_string(st->from));
                        json_object_object_add(x, "to", json_object_new_string(st->to));
                        json_object_object_add(x, "synchronized", json_object_new_boolean(st->barrier != NULL));
                        json_object_array_add(steps, x);
                }
                json_object_array_add(phases, p);
        }
        return o;
}
