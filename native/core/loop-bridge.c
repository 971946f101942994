/*
 * loop-bridge.c — lets a foreign event loop (libuv, or anything that can
 * watch fds and arm a timer) drive a GMainContext, so that GLib sources,
 * an attached AioContext included, run inside that loop.
 *
 * GLib already splits an iteration into prepare/query, poll and
 * check/dispatch; the bridge maps them onto the foreign loop's "before
 * poll" and "after poll" phases and lets the foreign loop do the poll.
 * The foreign loop sleeps exactly as long as GLib would: with nothing
 * scheduled there is no timer and no wake-up at all.
 *
 * The loop logic lives here, so that a binding is only glue:
 *  - GLib may ask for one fd through several GPollFDs (two sources on one
 *    fd); a foreign loop such as libuv allows one watch per fd, so the
 *    bridge merges them into one watch with the union of their events and
 *    fans each result out to all of them (aio_loop_bridge_fd_ready);
 *  - the watches are reconciled every round: watch_fd for each fd asked
 *    for, unwatch_fd for those no longer asked for;
 *  - an fd the foreign loop refuses (libuv: a regular file, an fd it
 *    already watches) is polled here with a zero timeout before and after
 *    each wait: a regular file is always ready, as GLib's own poll would
 *    say, and a closed fd reports G_IO_NVAL, after which the core stops
 *    asking for it.  Polling it without blocking is right because such an
 *    fd is either always ready or watched by someone who wakes the loop.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

/* One distinct fd GLib asks for. */
typedef struct BridgeWatch {
    int fd;
    int events;     /* G_IO_*, merged over this round's GPollFDs */
    uint64_t round; /* the round that last asked for it */
    bool watched;   /* the foreign loop accepted the last watch_fd */
} BridgeWatch;

struct AioLoopBridge {
    GMainContext *main;
    const AioLoopBridgeOps *ops;
    void *opaque;
    int max_priority;
    GPollFD *fds; /* GLib's query of this round */
    int nfds;
    int nalloc;
    GHashTable *watches; /* fd -> BridgeWatch */
    GArray *refused;     /* GPollFD of the fds the foreign loop refused */
    uint64_t round;      /* before_poll calls that queried */
    unsigned nwatched;   /* watches the foreign loop accepted */
    bool acquired;       /* we own @main (g_main_context_acquire) */
    bool prepared;       /* before_poll ran, after_poll has not */
};

AioLoopBridge *aio_loop_bridge_new(GMainContext *main,
                                   const AioLoopBridgeOps *ops, void *opaque)
{
    AioLoopBridge *b = g_new0(AioLoopBridge, 1);

    b->main = g_main_context_ref(main ? main : g_main_context_default());
    b->ops = ops;
    b->opaque = opaque;
    b->watches = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       g_free);
    b->refused = g_array_new(FALSE, FALSE, sizeof(GPollFD));
    return b;
}

void aio_loop_bridge_free(AioLoopBridge *b)
{
    if (!b) {
        return;
    }
    if (b->acquired) {
        g_main_context_release(b->main);
    }
    g_main_context_unref(b->main);
    g_hash_table_destroy(b->watches);
    g_array_free(b->refused, TRUE);
    g_free(b->fds);
    g_free(b);
}

/* ---- watches ------------------------------------------------------------ */

/* Merges this round's GPollFDs into one entry per fd. */
static void collect_fds(AioLoopBridge *b)
{
    b->round++;
    for (int i = 0; i < b->nfds; i++) {
        gpointer key = GINT_TO_POINTER(b->fds[i].fd);
        BridgeWatch *w = g_hash_table_lookup(b->watches, key);

        if (!w) {
            w = g_new0(BridgeWatch, 1);
            w->fd = b->fds[i].fd;
            g_hash_table_insert(b->watches, key, w);
        }
        if (w->round != b->round) {
            w->round = b->round;
            w->events = 0;
        }
        w->events |= b->fds[i].events;
    }
}

/* Makes the foreign loop's watches match this round; the fds it refuses
 * go to b->refused. */
static void apply_watches(AioLoopBridge *b)
{
    GHashTableIter iter;
    gpointer value;

    g_array_set_size(b->refused, 0);
    b->nwatched = 0;
    g_hash_table_iter_init(&iter, b->watches);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        BridgeWatch *w = value;

        if (w->round != b->round) {
            if (w->watched) {
                b->ops->unwatch_fd(b->opaque, w->fd);
            }
            g_hash_table_iter_remove(&iter);
            continue;
        }
        w->watched = b->ops->watch_fd(b->opaque, w->fd, w->events);
        if (w->watched) {
            b->nwatched++;
        } else {
            GPollFD p = {.fd = w->fd, .events = (gushort)w->events};
            g_array_append_val(b->refused, p);
        }
    }
}

/* Drops every watch (another thread runs the GMainContext, or a source
 * left it: aio_loop_bridge_forget_all). */
static void drop_watches(AioLoopBridge *b)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, b->watches);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        BridgeWatch *w = value;

        if (w->watched) {
            b->ops->unwatch_fd(b->opaque, w->fd);
        }
        g_hash_table_iter_remove(&iter);
    }
    g_array_set_size(b->refused, 0);
    b->nwatched = 0;
}

/* Polls the refused fds without blocking and records what they show.
 * Returns: whether any was ready. */
static bool poll_refused(AioLoopBridge *b)
{
    GPollFD *p = (GPollFD *)(void *)b->refused->data;
    guint n = b->refused->len;
    bool any = false;

    if (n == 0 || g_poll(p, n, 0) <= 0) {
        return false;
    }
    for (guint i = 0; i < n; i++) {
        if (p[i].revents) {
            aio_loop_bridge_fd_ready(b, p[i].fd, p[i].revents);
            p[i].revents = 0;
            any = true;
        }
    }
    return any;
}

void aio_loop_bridge_forget_fd(AioLoopBridge *b, int fd)
{
    BridgeWatch *w = g_hash_table_lookup(b->watches, GINT_TO_POINTER(fd));

    if (!w) {
        return;
    }
    if (w->watched) {
        b->ops->unwatch_fd(b->opaque, fd);
        b->nwatched--;
    }
    for (guint i = 0; i < b->refused->len; i++) {
        if (g_array_index(b->refused, GPollFD, i).fd == fd) {
            g_array_remove_index_fast(b->refused, i);
            break;
        }
    }
    g_hash_table_remove(b->watches, GINT_TO_POINTER(fd));
}

void aio_loop_bridge_forget_all(AioLoopBridge *b)
{
    drop_watches(b);
}

unsigned aio_loop_bridge_watched_fds(AioLoopBridge *b)
{
    return b->nwatched;
}

/* ---- the two phases ------------------------------------------------------ */

bool aio_loop_bridge_before_poll(AioLoopBridge *b)
{
    gboolean ready;
    int timeout, n;

    if (!b->acquired) {
        /* Another thread iterates this context: it is not ours to run. */
        if (!g_main_context_acquire(b->main)) {
            drop_watches(b);
            b->ops->arm_timer(b->opaque, -1);
            return false;
        }
        b->acquired = true;
    }
    ready = g_main_context_prepare(b->main, &b->max_priority);
    while ((n = g_main_context_query(b->main, b->max_priority, &timeout, b->fds,
                                     b->nalloc)) > b->nalloc) {
        b->nalloc = n;
        b->fds = g_renew(GPollFD, b->fds, n);
    }
    b->nfds = n;
    for (int i = 0; i < n; i++) {
        b->fds[i].revents = 0;
    }
    b->prepared = true;
    collect_fds(b);
    apply_watches(b);
    if (poll_refused(b)) {
        ready = TRUE;
    }
    b->ops->arm_timer(b->opaque, ready ? 0 : timeout);
    return true;
}

void aio_loop_bridge_fd_ready(AioLoopBridge *b, int fd, int revents)
{
    for (int i = 0; i < b->nfds; i++) {
        if (b->fds[i].fd == fd) {
            b->fds[i].revents |= revents & (b->fds[i].events | G_IO_HUP |
                                            G_IO_ERR | G_IO_NVAL);
        }
    }
}

bool aio_loop_bridge_after_poll(AioLoopBridge *b)
{
    if (!b->prepared) {
        return false;
    }
    poll_refused(b);
    b->prepared = false;
    if (!g_main_context_check(b->main, b->max_priority, b->fds, b->nfds)) {
        return false;
    }
    g_main_context_dispatch(b->main);
    return true;
}
