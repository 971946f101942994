/*
 * registry.c — the process-wide share registry (see aio.h, "Share
 * registry").
 *
 * Two levels of locking, never nested the other way round:
 *   - `tables.lock` guards the id and pointer maps; it is held only to
 *     find, add or remove an entry, never around a core call;
 *   - each entry's `lock` guards its pointer and lock bookkeeping; it is
 *     held around the core call (qemu_bh_schedule, aio_notify: a CAS and
 *     at most one write(2)), so the home thread cannot clear the pointer,
 *     and then free the object, in the middle of it.
 * One mutex per entry rather than one for all: threads that hammer
 * different BHs do not serialise on each other.  pthread mutexes, not
 * GMutex: GLib's are futex-based on Linux and invisible to ThreadSanitizer.
 *
 * Lock levels taken with aio_registry_acquire() are not held under any of
 * these mutexes: waiting for the context's lock while holding one would let
 * a remote thread block the home thread's aio_registry_forget_bh().
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <errno.h>
#include <string.h>

/* One thread's lock levels on a context, taken through the registry. */
typedef struct Holder {
    pthread_t thread;
    unsigned levels;
} Holder;

struct AioRegistryEntry {
    uint64_t id;
    AioRegistryKind kind;
    char *name;
    int refcnt; /* atomic; the tables hold one */

    pthread_mutex_t lock;
    /* AIO_REGISTRY_CONTEXT: */
    AioContext *ctx;         /* valid while @open */
    bool open;               /* false once withdrawn; under @lock */
    unsigned waiting;        /* threads inside acquire; under @lock */
    GArray *holders;         /* of Holder; under @lock */
    pthread_cond_t released; /* @waiting or @holders went down */
    /* AIO_REGISTRY_BH: */
    QEMUBH *bh; /* NULL once withdrawn; under @lock */
};

/* The tables.  Intentionally never freed: other threads may still look ids
 * up while the process exits. */
static struct {
    pthread_mutex_t lock;
    uint64_t next_id;
    GHashTable *by_id;     /* &entry->id -> entry (holds a reference) */
    GHashTable *by_object; /* AioContext * or QEMUBH * -> entry */
} tables = {.lock = PTHREAD_MUTEX_INITIALIZER, .next_id = 1};

/* Called with tables.lock held. */
static void tables_init_locked(void)
{
    if (!tables.by_id) {
        tables.by_id = g_hash_table_new(g_int64_hash, g_int64_equal);
        tables.by_object = g_hash_table_new(g_direct_hash, g_direct_equal);
    }
}

/* ---- entries -------------------------------------------------------------- */

static AioRegistryEntry *entry_new(AioRegistryKind kind, const char *name)
{
    AioRegistryEntry *e = g_new0(AioRegistryEntry, 1);

    e->kind = kind;
    e->name = g_strdup(name ? name : "");
    e->refcnt = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->released, NULL);
    e->holders = g_array_new(FALSE, FALSE, sizeof(Holder));
    return e;
}

AioRegistryEntry *aio_registry_entry_ref(AioRegistryEntry *e)
{
    g_atomic_int_inc(&e->refcnt);
    return e;
}

void aio_registry_entry_unref(AioRegistryEntry *e)
{
    /* A full barrier (g_atomic_int_dec_and_test): every use of @e by a
     * thread that dropped its reference happens before the free.  Pairs
     * with the decrements of the other holders. */
    if (!e || !g_atomic_int_dec_and_test(&e->refcnt)) {
        return;
    }
    pthread_cond_destroy(&e->released);
    pthread_mutex_destroy(&e->lock);
    g_array_free(e->holders, TRUE);
    g_free(e->name);
    g_free(e);
}

const char *aio_registry_entry_name(AioRegistryEntry *e)
{
    return e->name;
}

/* Returns: the id of @object, registering it on the first call. */
static uint64_t share(void *object, AioRegistryKind kind, const char *name)
{
    AioRegistryEntry *e;

    pthread_mutex_lock(&tables.lock);
    tables_init_locked();
    e = g_hash_table_lookup(tables.by_object, object);
    if (!e) {
        e = entry_new(kind, name);
        e->id = tables.next_id++;
        if (kind == AIO_REGISTRY_CONTEXT) {
            e->ctx = object;
            e->open = true;
        } else {
            e->bh = object;
        }
        g_hash_table_insert(tables.by_id, &e->id, e);
        g_hash_table_insert(tables.by_object, object, e);
    }
    pthread_mutex_unlock(&tables.lock);
    return e->id;
}

/* Unlinks the entry of @object.  Returns: it (the tables' reference, now
 * the caller's), or NULL if @object was not shared. */
static AioRegistryEntry *unlink_object(void *object)
{
    AioRegistryEntry *e = NULL;

    pthread_mutex_lock(&tables.lock);
    if (tables.by_object) {
        e = g_hash_table_lookup(tables.by_object, object);
    }
    if (e) {
        g_hash_table_remove(tables.by_object, object);
        g_hash_table_remove(tables.by_id, &e->id);
    }
    pthread_mutex_unlock(&tables.lock);
    return e;
}

int aio_registry_lookup(uint64_t id, AioRegistryKind kind,
                        AioRegistryEntry **out)
{
    AioRegistryEntry *e = NULL;
    int ret = -ENOENT;

    pthread_mutex_lock(&tables.lock);
    if (tables.by_id) {
        e = g_hash_table_lookup(tables.by_id, &id);
    }
    if (e && e->kind != kind) {
        ret = -EINVAL;
    } else if (e) {
        *out = aio_registry_entry_ref(e);
        ret = 0;
    }
    pthread_mutex_unlock(&tables.lock);
    return ret;
}

/* ---- home thread: publishing and withdrawing ------------------------------ */

uint64_t aio_registry_share_context(AioContext *ctx, const char *name)
{
    return share(ctx, AIO_REGISTRY_CONTEXT, name);
}

uint64_t aio_registry_share_bh(QEMUBH *bh, const char *name)
{
    return share(bh, AIO_REGISTRY_BH, name);
}

/* Returns: the Holder of the calling thread in @e, or NULL.  Called with
 * e->lock held. */
static Holder *own_holder(AioRegistryEntry *e, guint *index)
{
    pthread_t self = pthread_self();

    for (guint i = 0; i < e->holders->len; i++) {
        Holder *h = &g_array_index(e->holders, Holder, i);
        if (pthread_equal(h->thread, self)) {
            if (index) {
                *index = i;
            }
            return h;
        }
    }
    return NULL;
}

void aio_registry_forget_context(AioContext *ctx)
{
    AioRegistryEntry *e = unlink_object(ctx);
    guint index;
    Holder *own;

    if (!e) {
        return;
    }
    pthread_mutex_lock(&e->lock);
    e->open = false;
    /* Our own levels: the context lock is recursive, so they go now (later
     * releases from this thread get -ENOENT). */
    own = own_holder(e, &index);
    if (own) {
        for (unsigned i = 0; i < own->levels; i++) {
            aio_context_release(ctx);
        }
        g_array_remove_index_fast(e->holders, index);
    }
    /* Others': wait.  A thread still inside acquire sees @open false once
     * it gets the lock and gives it back at once. */
    while (e->waiting > 0 || e->holders->len > 0) {
        pthread_cond_wait(&e->released, &e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    aio_registry_entry_unref(e);
}

void aio_registry_forget_bh(QEMUBH *bh)
{
    AioRegistryEntry *e = unlink_object(bh);

    if (!e) {
        return;
    }
    /* Waits for a remote qemu_bh_schedule() in progress; after this no
     * thread can reach @bh through the registry. */
    pthread_mutex_lock(&e->lock);
    e->bh = NULL;
    pthread_mutex_unlock(&e->lock);
    aio_registry_entry_unref(e);
}

/* ---- any thread: using ---------------------------------------------------- */

int aio_registry_notify(AioRegistryEntry *e)
{
    int ret = -ENOENT;

    pthread_mutex_lock(&e->lock);
    if (e->open) {
        aio_notify(e->ctx);
        ret = 0;
    }
    pthread_mutex_unlock(&e->lock);
    return ret;
}

int aio_registry_acquire(AioRegistryEntry *e)
{
    Holder *h;

    pthread_mutex_lock(&e->lock);
    if (!e->open) {
        pthread_mutex_unlock(&e->lock);
        return -ENOENT;
    }
    e->waiting++; /* keeps forget_context from returning */
    pthread_mutex_unlock(&e->lock);

    /* Outside the entry lock: this may block for as long as another
     * thread holds the context. */
    aio_context_acquire(e->ctx);

    pthread_mutex_lock(&e->lock);
    e->waiting--;
    if (!e->open) {
        /* Withdrawn while we waited: the home thread waits for us. */
        aio_context_release(e->ctx);
        pthread_cond_broadcast(&e->released);
        pthread_mutex_unlock(&e->lock);
        return -ENOENT;
    }
    h = own_holder(e, NULL);
    if (h) {
        h->levels++;
    } else {
        Holder n = {.thread = pthread_self(), .levels = 1};
        g_array_append_val(e->holders, n);
    }
    pthread_mutex_unlock(&e->lock);
    return 0;
}

int aio_registry_release(AioRegistryEntry *e)
{
    guint index;
    Holder *h;

    pthread_mutex_lock(&e->lock);
    h = own_holder(e, &index);
    if (!h) {
        int ret = e->open ? -EPERM : -ENOENT;
        pthread_mutex_unlock(&e->lock);
        return ret;
    }
    /* Our level keeps the context alive (forget_context waits for it), so
     * the release may run outside the entry lock; it must, since the
     * context lock is never taken under it. */
    pthread_mutex_unlock(&e->lock);
    aio_context_release(e->ctx);

    pthread_mutex_lock(&e->lock);
    h = own_holder(e, &index);
    if (--h->levels == 0) {
        g_array_remove_index_fast(e->holders, index);
    }
    pthread_cond_broadcast(&e->released);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void aio_registry_release_all(AioRegistryEntry *e)
{
    while (aio_registry_release(e) == 0) {
    }
}

/* Runs @op on the BH of @e under its lock.  Returns: op's result, or
 * -ENOENT once withdrawn. */
static int with_bh(AioRegistryEntry *e, int (*op)(QEMUBH *bh))
{
    int ret = -ENOENT;

    pthread_mutex_lock(&e->lock);
    if (e->bh) {
        ret = op(e->bh);
    }
    pthread_mutex_unlock(&e->lock);
    return ret;
}

static int bh_schedule(QEMUBH *bh)
{
    qemu_bh_schedule(bh);
    return 0;
}

static int bh_cancel(QEMUBH *bh)
{
    qemu_bh_cancel(bh);
    return 0;
}

static int bh_is_scheduled(QEMUBH *bh)
{
    return qemu_bh_is_scheduled(bh) ? 1 : 0;
}

int aio_registry_bh_schedule(AioRegistryEntry *e)
{
    return with_bh(e, bh_schedule);
}

int aio_registry_bh_cancel(AioRegistryEntry *e)
{
    return with_bh(e, bh_cancel);
}

int aio_registry_bh_is_scheduled(AioRegistryEntry *e)
{
    return with_bh(e, bh_is_scheduled);
}

AioContext *aio_registry_entry_home_context(AioRegistryEntry *e)
{
    AioContext *ctx = NULL;

    pthread_mutex_lock(&e->lock);
    if (e->kind == AIO_REGISTRY_CONTEXT && e->open &&
        aio_context_in_home_thread(e->ctx)) {
        ctx = e->ctx;
    }
    pthread_mutex_unlock(&e->lock);
    return ctx;
}

/* ---- by id ---------------------------------------------------------------- */

static int by_id(uint64_t id, AioRegistryKind kind,
                 int (*op)(AioRegistryEntry *e))
{
    AioRegistryEntry *e;
    int ret = aio_registry_lookup(id, kind, &e);

    if (ret < 0) {
        return ret;
    }
    ret = op(e);
    aio_registry_entry_unref(e);
    return ret;
}

int aiocontext_remote_notify(uint64_t context_id)
{
    return by_id(context_id, AIO_REGISTRY_CONTEXT, aio_registry_notify);
}

int aiocontext_remote_bh_schedule(uint64_t bh_id)
{
    return by_id(bh_id, AIO_REGISTRY_BH, aio_registry_bh_schedule);
}

int aiocontext_remote_bh_cancel(uint64_t bh_id)
{
    return by_id(bh_id, AIO_REGISTRY_BH, aio_registry_bh_cancel);
}
