/*
 * file.c — AioFile: a descriptor bound to a context and an I/O engine
 * (see file.h).  Each operation becomes one request of the engine; a small
 * FileReq wraps the caller's callback so that the file can count what is
 * in flight.  The threads engine runs the system calls on the context's
 * pool, in FileReq's own job function.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "file.h"
#include "aio-internal.h"
#include "io_uring-file.h"
#include "linux-aio.h"
#include "thread-pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

struct AioFile {
    AioContext *ctx; /* strong reference */
    int fd;
    bool owns_fd;
    bool direct;
    AioEngine engine; /* never AUTO */
    char *fallback_reason;
    unsigned in_flight;
    LinuxAioState *laio; /* engine == LINUX_AIO */
    LuringState *luring; /* engine == IO_URING */
};

typedef struct FileReq {
    AioFile *f;
    int fd;
    int type;  /* QEMU_AIO_* */
    int error; /* < 0: fail with it, without any I/O */
    int64_t offset;
    int64_t bytes;     /* discard only */
    struct iovec *iov; /* threads engine: our copy */
    int niov;
    BlockCompletionFunc *cb;
    void *opaque;
} FileReq;

const char *aio_engine_name(AioEngine engine)
{
    switch (engine) {
    case AIO_ENGINE_AUTO: return "auto";
    case AIO_ENGINE_THREADS: return "threads";
    case AIO_ENGINE_LINUX_AIO: return "linux-aio";
    case AIO_ENGINE_IO_URING: return "io_uring";
    }
    return NULL;
}

/* Sets f->engine to @want if it can be set up, else to threads with the
 * reason. */
static void choose_engine(AioFile *f, AioEngine want)
{
    GError *err = NULL;

    f->engine = AIO_ENGINE_THREADS;
    switch (want) {
    case AIO_ENGINE_THREADS: return;
    case AIO_ENGINE_LINUX_AIO:
        if (!f->direct) {
            f->fallback_reason = g_strdup(
                "linux-aio needs O_DIRECT (the file is buffered); "
                "using threads");
            return;
        }
        f->laio = aio_setup_linux_aio(f->ctx, &err);
        if (f->laio) {
            f->engine = AIO_ENGINE_LINUX_AIO;
            return;
        }
        break;
    case AIO_ENGINE_AUTO:
        if (g_strcmp0(g_getenv("AIOCONTEXT_IO_URING"), "0") == 0) {
            f->fallback_reason = g_strdup(
                "io_uring turned off by AIOCONTEXT_IO_URING=0");
            return;
        }
        /* fall through */
    case AIO_ENGINE_IO_URING:
        f->luring = aio_setup_linux_io_uring(f->ctx, &err);
        if (f->luring) {
            f->engine = AIO_ENGINE_IO_URING;
            return;
        }
        break;
    }
    f->fallback_reason = g_strdup_printf("%s; using threads", err->message);
    g_error_free(err);
}

int aio_file_new_fd(AioContext *ctx, int fd, AioEngine engine, AioFile **pfile)
{
    AioFile *f;
    int fl;

    if (!aio_engine_name(engine)) {
        return -EINVAL;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        return -errno;
    }
    f = g_new0(AioFile, 1);
    f->ctx = aio_context_ref(ctx);
    f->fd = fd;
    f->direct = (fl & O_DIRECT) != 0;
    choose_engine(f, engine);
    *pfile = f;
    return 0;
}

int aio_file_open(AioContext *ctx, const char *path, int flags, mode_t mode,
                  AioEngine engine, AioFile **pfile)
{
    int fd, ret;

    if (!aio_engine_name(engine)) {
        return -EINVAL;
    }
    fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0) {
        return -errno;
    }
    ret = aio_file_new_fd(ctx, fd, engine, pfile);
    if (ret < 0) {
        close(fd);
        return ret;
    }
    (*pfile)->owns_fd = true;
    return 0;
}

int aio_file_close(AioFile *f)
{
    int ret = 0;

    if (f->in_flight) {
        return -EBUSY;
    }
    if (f->owns_fd && close(f->fd) < 0) {
        ret = -errno;
    }
    aio_context_unref(f->ctx);
    g_free(f->fallback_reason);
    g_free(f);
    return ret;
}

int aio_file_get_fd(AioFile *f)
{
    return f->fd;
}
AioEngine aio_file_get_engine(AioFile *f)
{
    return f->engine;
}
const char *aio_file_get_fallback_reason(AioFile *f)
{
    return f->fallback_reason;
}
bool aio_file_is_direct(AioFile *f)
{
    return f->direct;
}
unsigned aio_file_in_flight(AioFile *f)
{
    return f->in_flight;
}

/* ------------------------------------------------------------------------ */
/* The threads engine: the system calls, on a worker                         */
/* ------------------------------------------------------------------------ */

/* preadv/pwritev until everything is transferred, the file ends (reads)
 * or an error.  Returns: bytes, or a negative errno. */
static int rw_loop(FileReq *r)
{
    bool is_read = r->type == QEMU_AIO_READ;
    size_t done = 0;
    int niov = r->niov;

    while (niov > 0) {
        ssize_t n = is_read ? preadv(r->fd, r->iov, niov, r->offset + done)
                            : pwritev(r->fd, r->iov, niov, r->offset + done);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            if (!is_read) {
                return -ENOSPC; /* a write that makes no progress */
            }
            aio__iov_zero_from(r->iov, niov, 0);
            break;
        }
        done += n;
        niov = aio__iov_tail(r->iov, r->iov, niov, n);
    }
    return done;
}

static int file_job(void *opaque)
{
    FileReq *r = opaque;

    if (r->error) {
        return r->error;
    }
    switch (r->type) {
    case QEMU_AIO_READ:
    case QEMU_AIO_WRITE: return rw_loop(r);
    case QEMU_AIO_FLUSH: return fdatasync(r->fd) < 0 ? -errno : 0;
    case QEMU_AIO_DISCARD:
        return fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         r->offset, r->bytes) < 0
                   ? -errno
                   : 0;
    }
    return -EINVAL;
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */
/* ------------------------------------------------------------------------ */

static void file_req_done(void *opaque, int ret)
{
    FileReq *r = opaque;
    BlockCompletionFunc *cb = r->cb;
    void *cb_opaque = r->opaque;

    /* Before the callback, which may close the file. */
    r->f->in_flight--;
    g_free(r->iov);
    g_free(r);
    cb(cb_opaque, ret);
}

static FileReq *file_req_new(AioFile *f, int type, BlockCompletionFunc *cb,
                             void *opaque)
{
    FileReq *r = g_new0(FileReq, 1);

    r->f = f;
    r->fd = f->fd;
    r->type = type;
    r->cb = cb;
    r->opaque = opaque;
    f->in_flight++;
    return r;
}

static BlockAIOCB *submit_threads(FileReq *r)
{
    return thread_pool_submit_aio(aio_get_thread_pool(r->f->ctx), file_job, r,
                                  file_req_done, r);
}

static BlockAIOCB *file_rw(AioFile *f, int type, int64_t offset,
                           const struct iovec *iov, int niov,
                           BlockCompletionFunc *cb, void *opaque)
{
    FileReq *r = file_req_new(f, type, cb, opaque);
    size_t size;

    if (offset < 0 || niov < 1 || niov > IOV_MAX || !iov ||
        (size = aio__iov_size(iov, niov)) > INT_MAX) {
        r->error = -EINVAL;
        return submit_threads(r);
    }
    if (size == 0) {
        /* Nothing to transfer: 0, on every engine.  A 0-byte write would
         * return 0 from pwritev(2) and from io_uring, which both loops
         * take for a write that makes no progress (-ENOSPC). */
        return submit_threads(r); /* rw_loop() with no buffer */
    }
    switch (f->engine) {
    case AIO_ENGINE_IO_URING:
        return luring_submit_aio(f->luring, f->fd, offset, iov, niov, type,
                                 file_req_done, r);
    case AIO_ENGINE_LINUX_AIO:
        return laio_submit_aio(f->laio, f->fd, offset, iov, niov, type,
                               file_req_done, r);
    default:
        r->offset = offset;
        r->iov = aio__iov_copy(iov, niov);
        r->niov = niov;
        return submit_threads(r);
    }
}

BlockAIOCB *aio_file_preadv(AioFile *f, int64_t offset, const struct iovec *iov,
                            int niov, BlockCompletionFunc *cb, void *opaque)
{
    return file_rw(f, QEMU_AIO_READ, offset, iov, niov, cb, opaque);
}

BlockAIOCB *aio_file_pwritev(AioFile *f, int64_t offset,
                             const struct iovec *iov, int niov,
                             BlockCompletionFunc *cb, void *opaque)
{
    return file_rw(f, QEMU_AIO_WRITE, offset, iov, niov, cb, opaque);
}

BlockAIOCB *aio_file_fdatasync(AioFile *f, BlockCompletionFunc *cb,
                               void *opaque)
{
    FileReq *r = file_req_new(f, QEMU_AIO_FLUSH, cb, opaque);

    if (f->engine == AIO_ENGINE_IO_URING) {
        return luring_submit_aio(f->luring, f->fd, 0, NULL, 0, QEMU_AIO_FLUSH,
                                 file_req_done, r);
    }
    return submit_threads(r); /* linux-aio too, as QEMU */
}

BlockAIOCB *aio_file_discard(AioFile *f, int64_t offset, int64_t bytes,
                             BlockCompletionFunc *cb, void *opaque)
{
    FileReq *r = file_req_new(f, QEMU_AIO_DISCARD, cb, opaque);

    if (offset < 0 || bytes < 0) {
        r->error = -EINVAL;
    } else if (f->engine == AIO_ENGINE_IO_URING) {
        return luring_submit_discard(f->luring, f->fd, offset, bytes,
                                     file_req_done, r);
    }
    r->offset = offset;
    r->bytes = bytes;
    return submit_threads(r);
}
