/*
 * iov.c — the few scatter/gather helpers the block engines share: sizes,
 * zero-filling what a short read left, and the remainder of a vector after
 * a partial transfer.
 *
 * SPDX-License-Identifier: MIT
 */
#include "aio-internal.h"

#include <string.h>

struct iovec *aio__iov_copy(const struct iovec *iov, int niov)
{
    struct iovec *copy = g_new(struct iovec, niov);

    memcpy(copy, iov, niov * sizeof(*iov));
    return copy;
}

size_t aio__iov_size(const struct iovec *iov, int niov)
{
    size_t n = 0;

    for (int i = 0; i < niov; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

void aio__iov_zero_from(const struct iovec *iov, int niov, size_t offset)
{
    for (int i = 0; i < niov; i++) {
        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        memset((char *)iov[i].iov_base + offset, 0, iov[i].iov_len - offset);
        offset = 0;
    }
}

int aio__iov_tail(struct iovec *dst, const struct iovec *iov, int niov,
                  size_t skip)
{
    int n = 0;

    for (int i = 0; i < niov; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        dst[n].iov_base = (char *)iov[i].iov_base + skip;
        dst[n].iov_len = iov[i].iov_len - skip;
        skip = 0;
        n++;
    }
    return n;
}
