/*
 * event-notifier.c — a wake-up flag that poll(2) can wait on: an eventfd,
 * or a pipe on kernels without one.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "aio-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

int event_notifier_init(EventNotifier *e, bool active)
{
    int fds[2];
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd >= 0) {
        e->rfd = e->wfd = fd;
    } else if (errno == ENOSYS) {
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
            return -errno;
        }
        e->rfd = fds[0];
        e->wfd = fds[1];
    } else {
        return -errno;
    }
    e->initialized = true;
    if (active) {
        event_notifier_set(e);
    }
    return 0;
}

void event_notifier_cleanup(EventNotifier *e)
{
    if (!e->initialized) {
        return;
    }
    if (e->wfd != e->rfd) {
        close(e->wfd);
    }
    close(e->rfd);
    e->rfd = e->wfd = -1;
    e->initialized = false;
}

int event_notifier_get_fd(const EventNotifier *e)
{
    return e->rfd;
}

int event_notifier_set(EventNotifier *e)
{
    static const uint64_t one = 1;
    ssize_t ret;

    do {
        ret = write(e->wfd, &one, sizeof(one));
    } while (ret < 0 && errno == EINTR);
    /* EAGAIN: the counter (or pipe) is full, so it is already set. */
    if (ret < 0 && errno != EAGAIN) {
        return -errno;
    }
    return 0;
}

bool event_notifier_test_and_clear(EventNotifier *e)
{
    char buffer[512];
    bool value = false;
    ssize_t len;

    /* An eventfd drains in one 8-byte read; a pipe may need several. */
    do {
        len = read(e->rfd, buffer, sizeof(buffer));
        value |= (len > 0);
    } while ((len == -1 && errno == EINTR) || len == (ssize_t)sizeof(buffer));
    return value;
}
