/*
 * timer.c — timers: one sorted list per clock in each context.
 *
 * A list is sorted by expiry; a timer armed for the same expiry as others
 * goes after them, so equal expiries run in arming order.  Arming a timer
 * that becomes the list head notifies the context, whose wait must now end
 * sooner.  Running timers reads the clock once, then pops every timer due
 * at that instant, calling each without the list lock: a callback may
 * re-arm, delete or free its own timer (or others).
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

void aio__timerlistgroup_init(AioContext *ctx, QEMUTimerListGroup *tlg)
{
    for (int i = 0; i < QEMU_CLOCK_MAX; i++) {
        tlg->tl[i].ctx = ctx;
        tlg->tl[i].clock = (QEMUClockType)i;
        pthread_mutex_init(&tlg->tl[i].active_timers_lock, NULL);
        tlg->tl[i].active_timers = NULL;
    }
}

void aio__timerlistgroup_deinit(QEMUTimerListGroup *tlg)
{
    for (int i = 0; i < QEMU_CLOCK_MAX; i++) {
        QEMUTimer *ts;

        /* Timers still alive belong to their creators, who must not use
         * them after the context is gone; unlink them so they are inert. */
        while ((ts = tlg->tl[i].active_timers)) {
            tlg->tl[i].active_timers = ts->next;
            ts->next = NULL;
            atomic_set(&ts->expire_time, (int64_t)-1);
        }
        pthread_mutex_destroy(&tlg->tl[i].active_timers_lock);
    }
}

QEMUTimer *aio_timer_new_with_attrs(AioContext *ctx, QEMUClockType type,
                                    int scale, int attributes, QEMUTimerCB *cb,
                                    void *opaque)
{
    QEMUTimer *ts;

    g_return_val_if_fail(ctx != NULL && cb != NULL, NULL);
    g_return_val_if_fail(type >= 0 && type < QEMU_CLOCK_MAX, NULL);
    g_return_val_if_fail(scale > 0, NULL);
    ts = g_new0(QEMUTimer, 1);
    ts->timer_list = &ctx->tlg.tl[type];
    ts->cb = cb;
    ts->opaque = opaque;
    ts->scale = scale;
    ts->attributes = attributes;
    atomic_set(&ts->expire_time, (int64_t)-1);
    __atomic_fetch_add(&ctx->nr_timers, 1, __ATOMIC_RELAXED);
    return ts;
}

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUClockType type, int scale,
                         QEMUTimerCB *cb, void *opaque)
{
    return aio_timer_new_with_attrs(ctx, type, scale, 0, cb, opaque);
}

/* Called with the list lock held. */
static void timer_del_locked(QEMUTimerList *tl, QEMUTimer *ts)
{
    QEMUTimer **pt = &tl->active_timers;

    atomic_set(&ts->expire_time, (int64_t)-1);
    for (; *pt; pt = &(*pt)->next) {
        if (*pt == ts) {
            *pt = ts->next;
            ts->next = NULL;
            return;
        }
    }
}

/* Called with the list lock held.  Returns: whether @ts is now the head. */
static bool timer_mod_ns_locked(QEMUTimerList *tl, QEMUTimer *ts,
                                int64_t expire_time)
{
    QEMUTimer **pt = &tl->active_timers;

    atomic_set(&ts->expire_time, MAX(expire_time, 0));
    while (*pt && (*pt)->expire_time <= ts->expire_time) {
        pt = &(*pt)->next;
    }
    ts->next = *pt;
    /* Release pairs with the acquire in the unlocked peek of
     * aio__timerlistgroup_run_timers/deadline. */
    atomic_store_release(pt, ts);
    return pt == &tl->active_timers;
}

void timer_mod_ns(QEMUTimer *ts, int64_t expire_time)
{
    QEMUTimerList *tl = ts->timer_list;
    bool rearm;

    pthread_mutex_lock(&tl->active_timers_lock);
    timer_del_locked(tl, ts);
    rearm = timer_mod_ns_locked(tl, ts, expire_time);
    pthread_mutex_unlock(&tl->active_timers_lock);
    if (rearm) {
        aio_notify(tl->ctx);
    }
}

void timer_mod(QEMUTimer *ts, int64_t expire_time)
{
    timer_mod_ns(ts, expire_time * ts->scale);
}

void timer_mod_anticipate_ns(QEMUTimer *ts, int64_t expire_time)
{
    QEMUTimerList *tl = ts->timer_list;
    bool rearm = false;

    pthread_mutex_lock(&tl->active_timers_lock);
    if (ts->expire_time == -1 || ts->expire_time > expire_time) {
        if (ts->expire_time != -1) {
            timer_del_locked(tl, ts);
        }
        rearm = timer_mod_ns_locked(tl, ts, expire_time);
    }
    pthread_mutex_unlock(&tl->active_timers_lock);
    if (rearm) {
        aio_notify(tl->ctx);
    }
}

void timer_mod_anticipate(QEMUTimer *ts, int64_t expire_time)
{
    timer_mod_anticipate_ns(ts, expire_time * ts->scale);
}

void timer_del(QEMUTimer *ts)
{
    QEMUTimerList *tl = ts->timer_list;

    pthread_mutex_lock(&tl->active_timers_lock);
    timer_del_locked(tl, ts);
    pthread_mutex_unlock(&tl->active_timers_lock);
}

void timer_free(QEMUTimer *ts)
{
    AioContext *ctx;

    if (!ts) {
        return;
    }
    ctx = ts->timer_list->ctx;
    timer_del(ts);
    __atomic_fetch_sub(&ctx->nr_timers, 1, __ATOMIC_RELAXED);
    g_free(ts);
}

bool timer_pending(QEMUTimer *ts)
{
    return atomic_read(&ts->expire_time) >= 0;
}

bool timer_expired(QEMUTimer *ts, int64_t current_time)
{
    /* An unarmed timer (-1) counts as expired, as in QEMU. */
    return atomic_read(&ts->expire_time) <= current_time * ts->scale;
}

int64_t timer_expire_time_ns(QEMUTimer *ts)
{
    int64_t t = atomic_read(&ts->expire_time);

    return t >= 0 ? t : -1;
}

int timer_get_scale(QEMUTimer *ts)
{
    return ts->scale;
}

QEMUClockType timer_get_clock(QEMUTimer *ts)
{
    return ts->timer_list->clock;
}

static int64_t timerlist_deadline_ns(QEMUTimerList *tl)
{
    int64_t expire_time, delta;

    /* Unlocked peek: an empty list is the common case. */
    if (!atomic_load_acquire(&tl->active_timers)) {
        return -1;
    }
    pthread_mutex_lock(&tl->active_timers_lock);
    if (!tl->active_timers) {
        pthread_mutex_unlock(&tl->active_timers_lock);
        return -1;
    }
    expire_time = tl->active_timers->expire_time;
    pthread_mutex_unlock(&tl->active_timers_lock);

    delta = expire_time - qemu_clock_get_ns(tl->clock);
    if (delta <= 0) {
        return 0;
    }
    /* A stopped clock does not get there by waiting. */
    return aio__clock_use_for_deadline(tl->clock) ? delta : -1;
}

int64_t aio__timerlistgroup_deadline_ns(QEMUTimerListGroup *tlg)
{
    int64_t deadline = -1;

    for (int i = 0; i < QEMU_CLOCK_MAX; i++) {
        deadline = aio__soonest(deadline, timerlist_deadline_ns(&tlg->tl[i]));
    }
    return deadline;
}

bool aio__timerlistgroup_has_timers(QEMUTimerListGroup *tlg)
{
    for (int i = 0; i < QEMU_CLOCK_MAX; i++) {
        QEMUTimerList *tl = &tlg->tl[i];
        bool armed;

        pthread_mutex_lock(&tl->active_timers_lock);
        armed = tl->active_timers != NULL;
        pthread_mutex_unlock(&tl->active_timers_lock);
        if (armed) {
            return true;
        }
    }
    return false;
}

static bool timerlist_run_timers(QEMUTimerList *tl)
{
    int64_t current_time;
    bool progress = false;

    if (!atomic_load_acquire(&tl->active_timers)) {
        return false;
    }
    current_time = qemu_clock_get_ns(tl->clock);
    pthread_mutex_lock(&tl->active_timers_lock);
    for (;;) {
        QEMUTimer *ts = tl->active_timers;
        QEMUTimerCB *cb;
        void *opaque;

        if (!ts || ts->expire_time > current_time) {
            break;
        }
        tl->active_timers = ts->next;
        ts->next = NULL;
        atomic_set(&ts->expire_time, (int64_t)-1);
        cb = ts->cb;
        opaque = ts->opaque;

        /* Unlocked: the callback may re-arm or free @ts. */
        pthread_mutex_unlock(&tl->active_timers_lock);
        tl->ctx->counters.timer_dispatches++;
        aio__observed_call(tl->ctx, AIO_EVENT_TIMER, NULL, tl->clock, cb,
                           opaque);
        progress = true;
        pthread_mutex_lock(&tl->active_timers_lock);
    }
    pthread_mutex_unlock(&tl->active_timers_lock);
    return progress;
}

bool aio__timerlistgroup_run_timers(QEMUTimerListGroup *tlg)
{
    bool progress = false;

    /* REALTIME, VIRTUAL, HOST, VIRTUAL_RT: the enum's order. */
    for (int i = 0; i < QEMU_CLOCK_MAX; i++) {
        progress |= timerlist_run_timers(&tlg->tl[i]);
    }
    return progress;
}
