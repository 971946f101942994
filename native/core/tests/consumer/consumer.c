/*
 * consumer.c — a C program that uses the installed core as a consumer
 * would: headers and flags from `pkg-config aiocontext-core` only
 * (scripts/test-c-consumer.sh, npm run test:c-consumer).
 *
 * It includes POSIX's <aio.h> beside <aiocontext/aio.h> and uses struct
 * aiocb: the project's header must not shadow the system one.  Then it
 * creates a context, schedules a BH, polls, and checks that the BH ran
 * once.  Exit status 0 on success; a message and 1 otherwise.
 *
 * SPDX-License-Identifier: MIT
 */
#include <aio.h>
#include <aiocontext/aio.h>

#include <stdio.h>
#include <string.h>

#ifdef CONFIG_LINUX_IO_URING
#error "a build switch of the core leaked into the consumer's flags"
#endif

static void count_run(void *opaque)
{
    (*(int *)opaque)++;
}

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "consumer: check failed: %s\n", #cond); \
            return 1; \
        } \
    } while (0)

int main(void)
{
    struct aiocb cb; /* POSIX <aio.h> is still visible */
    memset(&cb, 0, sizeof(cb));
    cb.aio_fildes = -1;
    CHECK(cb.aio_fildes == -1);

    GError *error = NULL;
    AioContext *ctx = aio_context_new("consumer", &error);
    if (!ctx) {
        fprintf(stderr, "consumer: aio_context_new: %s\n",
                error ? error->message : "?");
        return 1;
    }

    int runs = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_run, &runs);
    qemu_bh_schedule(bh);
    CHECK(aio_poll(ctx, true)); /* the BH is progress */
    CHECK(runs == 1);
    CHECK(!aio_poll(ctx, false)); /* nothing left to do */
    CHECK(runs == 1);

    qemu_bh_delete(bh);
    aio_poll(ctx, false); /* frees the deleted BH */
    aio_context_unref(ctx);
    printf("consumer: a BH scheduled and run through <aiocontext/aio.h>; "
           "struct aiocb from <aio.h> is %zu bytes\n",
           sizeof(struct aiocb));
    return 0;
}
