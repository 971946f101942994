/*
 * coroutine.c — coroutines: the ucontext back end, the stack pool, and
 * create/enter/yield.
 *
 * Each coroutine runs a trampoline on its own mmap'ed stack with a
 * PROT_NONE guard page below it (an overflow faults instead of corrupting
 * a neighbour).  The trampoline loops: when the entry function returns it
 * switches back to its caller with COROUTINE_TERMINATE, and the caller puts
 * the coroutine (stack and all) in a process-wide pool.  Reusing one only
 * sets a new entry and switches to it, so the trampoline's loop calls the
 * new entry; no makecontext() is needed after the first time.
 *
 * Sanitizers cannot follow a stack switch by themselves.  ThreadSanitizer
 * gets one fiber per coroutine (__tsan_switch_to_fiber before each
 * switch); AddressSanitizer is told of each switch with
 * __sanitizer_start/finish_switch_fiber.
 *
 * Thread-locals and coroutines: a coroutine may yield on one thread and be
 * entered again on another, and a function's frame lives on across the
 * switch.  The compiler assumes a function stays on its thread, so it may
 * compute a __thread variable's address once and reuse it after a call to
 * swapcontext(), which would then read the old thread's variable.  So the
 * thread's current coroutine and current context are __thread variables
 * touched only by the small functions marked CO_TLS_FN below: never
 * inlined (each call computes the address anew, on the thread it runs on),
 * and with an empty asm volatile, which keeps the compiler from deciding
 * they are pure and merging two calls on either side of a switch.  (QEMU
 * does the same for its coroutine-safe thread-locals.)  This is cheaper
 * than GPrivate (a pthread_getspecific call behind a g_private call), and
 * aio_poll() sets the current context twice per call.  The leader, which
 * needs a destructor at thread exit, stays in a GPrivate.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CO_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define CO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CO_TSAN 1
#endif
#endif

#ifdef CO_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old, size_t *size_old);
#endif
#ifdef CO_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* QEMU's size: deep enough for block drivers' call chains. */
#define COROUTINE_STACK_SIZE ((size_t)1 << 20)
/* Finished coroutines kept for reuse; more are freed. */
#define COROUTINE_POOL_MAX 64

static void leader_free(gpointer p)
{
    g_free(p);
}

static GPrivate leader_key = G_PRIVATE_INIT(leader_free);

/* See the file comment: every access to these goes through a CO_TLS_FN. */
#define CO_TLS_FN __attribute__((noinline))
#define CO_TLS_BARRIER() __asm__ volatile("")
static __thread Coroutine *current_co;
static __thread AioContext *current_ctx;

static CO_TLS_FN Coroutine *get_current_co(void)
{
    CO_TLS_BARRIER();
    return current_co;
}

static CO_TLS_FN void set_current_co(Coroutine *co)
{
    CO_TLS_BARRIER();
    current_co = co;
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static Coroutine *pool;    /* under pool_lock */
static unsigned pool_size; /* under pool_lock; atomic for readers */

CO_TLS_FN AioContext *aio__set_current_context(AioContext *ctx)
{
    AioContext *prev;

    CO_TLS_BARRIER();
    prev = current_ctx;
    current_ctx = ctx;
    return prev;
}

CO_TLS_FN AioContext *qemu_get_current_aio_context(void)
{
    CO_TLS_BARRIER();
    return current_ctx;
}

/* The calling thread's leader: its own stack, as a coroutine. */
static Coroutine *get_leader(void)
{
    Coroutine *leader = g_private_get(&leader_key);

    if (!leader) {
        leader = g_new0(Coroutine, 1);
        leader->is_leader = true;
        leader->name = "leader";
#ifdef CO_TSAN
        leader->tsan_fiber = __tsan_get_current_fiber();
#endif
        g_private_set(&leader_key, leader);
    }
    return leader;
}

#ifdef CO_ASAN
/* Right after landing on a stack.  The first switch on a thread always
 * leaves its leader, so the stack left then is the leader's: record it for
 * later switches back to it. */
static void asan_finish(void *fake_stack)
{
    Coroutine *leader = get_leader();
    const void *bottom;
    size_t size;

    __sanitizer_finish_switch_fiber(fake_stack, &bottom, &size);
    if (!leader->stack) {
        leader->stack = (void *)bottom;
        leader->stack_size = size;
    }
}
#endif

/* Switches from @from (running on this thread) to @to.  Returns, in
 * @from, the action of whoever switched back to it. */
static CoroutineAction co_switch(Coroutine *from, Coroutine *to,
                                 CoroutineAction action)
{
#ifdef CO_ASAN
    void *fake_stack = NULL;
#endif

    set_current_co(to);
    to->action = action;
#ifdef CO_TSAN
    /* Flags 0: the switch orders everything before it in @from before
     * everything after it in @to. */
    __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
#ifdef CO_ASAN
    /* A terminating coroutine's fake stack is dead: NULL frees it. */
    __sanitizer_start_switch_fiber(action == COROUTINE_TERMINATE ? NULL
                                                                 : &fake_stack,
                                   to->stack, to->stack_size);
#endif
    if (swapcontext(&from->uc, &to->uc) != 0) {
        perror("aiocontext: swapcontext");
        abort();
    }
#ifdef CO_ASAN
    asan_finish(fake_stack);
#endif
    return from->action;
}

static void co_trampoline(int lo, int hi)
{
    Coroutine *co = (Coroutine *)(((uintptr_t)(unsigned)hi << 32) |
                                  (uintptr_t)(unsigned)lo);

#ifdef CO_ASAN
    asan_finish(NULL);
#endif
    for (;;) {
        co->entry(co->entry_arg);
        co_switch(co, co->caller, COROUTINE_TERMINATE);
    }
}

static Coroutine *co_new(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t total = COROUTINE_STACK_SIZE + page;
    Coroutine *co = g_new0(Coroutine, 1);
    uintptr_t p = (uintptr_t)co;
    char *base;

    base = mmap(NULL, total, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        perror("aiocontext: cannot map a coroutine stack");
        abort();
    }
    /* The stack grows down: the guard is the lowest page. */
    if (mprotect(base, page, PROT_NONE) != 0) {
        perror("aiocontext: cannot protect a coroutine guard page");
        abort();
    }
    co->stack = base + page;
    co->stack_size = COROUTINE_STACK_SIZE;
    if (getcontext(&co->uc) != 0) {
        perror("aiocontext: getcontext");
        abort();
    }
    co->uc.uc_link = NULL;
    co->uc.uc_stack.ss_sp = co->stack;
    co->uc.uc_stack.ss_size = co->stack_size;
    co->uc.uc_stack.ss_flags = 0;
    /* makecontext passes ints: the pointer goes in two halves. */
    makecontext(&co->uc, (void (*)(void))co_trampoline, 2, (int)(uint32_t)p,
                (int)(uint32_t)((uint64_t)p >> 32));
#ifdef CO_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    return co;
}

static void co_free(Coroutine *co)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

#ifdef CO_TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    munmap((char *)co->stack - page, co->stack_size + page);
    g_free(co);
}

Coroutine *qemu_coroutine_create_named(CoroutineEntry *entry, void *opaque,
                                       const char *name)
{
    Coroutine *co;

    g_return_val_if_fail(entry != NULL, NULL);
    pthread_mutex_lock(&pool_lock);
    co = pool;
    if (co) {
        pool = co->pool_next;
        atomic_set(&pool_size, pool_size - 1);
    }
    pthread_mutex_unlock(&pool_lock);
    if (!co) {
        co = co_new();
    }
    co->pool_next = NULL;
    co->entry = entry;
    co->entry_arg = opaque;
    co->name = name ? name : "coroutine";
    co->caller = NULL;
    co->ctx = NULL;
    co->scheduled = NULL;
    co->co_scheduled_next = NULL;
    co->co_queue_next = NULL;
    co->wakeup_head = co->wakeup_tail = NULL;
    co->locks_held = 0;
    return co;
}

/* A coroutine whose entry returned: back to the pool, or freed. */
static void co_delete(Coroutine *co)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_size < COROUTINE_POOL_MAX) {
        co->pool_next = pool;
        pool = co;
        atomic_set(&pool_size, pool_size + 1);
        co = NULL;
    }
    pthread_mutex_unlock(&pool_lock);
    if (co) {
        co_free(co);
    }
}

unsigned qemu_coroutine_pool_size(void)
{
    return atomic_read(&pool_size);
}

const char *qemu_coroutine_name(Coroutine *co)
{
    return co->name;
}

Coroutine *qemu_coroutine_self(void)
{
    Coroutine *self = get_current_co();

    if (!self) {
        self = get_leader();
        set_current_co(self);
    }
    return self;
}

bool qemu_in_coroutine(void)
{
    Coroutine *self = get_current_co();

    return self && !self->is_leader;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return atomic_load_acquire(&co->caller) != NULL;
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return atomic_load_acquire(&co->ctx);
}

void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co)
{
    Coroutine *from = qemu_coroutine_self();
    /* Coroutines to enter, linked through co_queue_next.  Those a
     * coroutine woke go in front of older ones: depth first, as QEMU. */
    Coroutine *head = co;

    co->co_queue_next = NULL;
    while (head) {
        Coroutine *to = head;
        CoroutineAction ret;

        head = to->co_queue_next;
        to->co_queue_next = NULL;

        if (atomic_read(&to->caller)) {
            fprintf(stderr,
                    "aiocontext: coroutine '%s' entered while it "
                    "is running\n",
                    to->name);
            abort();
        }
        atomic_set(&to->caller, from);
        /* Publish the context before the coroutine runs and can be woken
         * from elsewhere.  Pairs with the acquire load in aio_co_wake(). */
        atomic_store_release(&to->ctx, ctx);

        ret = co_switch(from, to, COROUTINE_ENTER);

        if (to->wakeup_head) {
            to->wakeup_tail->co_queue_next = head;
            head = to->wakeup_head;
            to->wakeup_head = to->wakeup_tail = NULL;
        }
        switch (ret) {
        case COROUTINE_YIELD: break;
        case COROUTINE_TERMINATE:
            if (to->locks_held) {
                fprintf(stderr,
                        "aiocontext: coroutine '%s' ended holding "
                        "%u CoMutex(es)\n",
                        to->name, to->locks_held);
                abort();
            }
            co_delete(to);
            break;
        default: abort();
        }
    }
}

void qemu_coroutine_enter(Coroutine *co)
{
    qemu_aio_coroutine_enter(qemu_get_current_aio_context(), co);
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!qemu_coroutine_entered(co)) {
        qemu_coroutine_enter(co);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *self = qemu_coroutine_self();
    Coroutine *to = atomic_read(&self->caller);

    if (!to || self->is_leader) {
        fprintf(stderr, "aiocontext: qemu_coroutine_yield() outside a "
                        "coroutine\n");
        abort();
    }
    atomic_set(&self->caller, NULL);
    co_switch(self, to, COROUTINE_YIELD);
}
