/*
 * errors.h — the one place where the binding builds exceptions.
 *
 * Core errors (negative errno values) become AioError with the errno name as
 * `code` ('EBADF'), a positive `errno` and the `syscall`; states of the
 * binding (closed, wrong thread, ...) become AioError with an ERR_AIO_* code.
 * AioError is the class from src/errors.ts, handed over at load time, so
 * `instanceof AioError` holds for every error the addon throws.
 *
 * Every helper leaves a pending exception and returns nothing: callers
 * return an empty Napi::Value right after (C++ exceptions are disabled).
 * JS thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_ERRORS_H
#define AIOCONTEXT_ERRORS_H

#include <napi.h>

#include <glib.h>

#include <string>

namespace aiocontext {

struct Addon;

/* States of the binding that make a call fail.  Their codes and messages
 * live in one table in errors.cc. */
enum class AioState {
    Closed,            /* ERR_AIO_CLOSED: the context (or notifier) is closed */
    WrongThread,       /* ERR_AIO_WRONG_THREAD: not the context's home thread */
    Deleted,           /* ERR_AIO_DELETED: the BH or timer was deleted */
    NotDisabled,       /* ERR_AIO_NOT_DISABLED: enableExternal() unbalanced */
    NotAcquired,       /* ERR_AIO_NOT_ACQUIRED: release() without acquire() */
    Attached,          /* ERR_AIO_ATTACHED: attach() while attached */
    Busy,              /* ERR_AIO_BUSY: closing a notifier still registered */
    WouldBlockForever, /* ERR_AIO_WOULD_BLOCK_FOREVER: blocking poll, nothing armed */
};

/* Throws AioError for @state; @subject names the object ("AioContext
 * 'disk'", "BottomHalf 'bh'") and starts the message. */
void ThrowState(Addon *addon, napi_env env, AioState state,
                const std::string &subject);

/* Throws AioError for a positive errno value returned by @syscall. */
void ThrowErrno(Addon *addon, napi_env env, int err, const char *syscall);

/* Throws AioError for a GError from the core (which reports errno values
 * as G_FILE_ERROR codes). */
void ThrowGError(Addon *addon, napi_env env, const GError *error,
                 const char *syscall);

/* Throws AioError with an explicit code and message. */
void ThrowAioError(Addon *addon, napi_env env, const char *code,
                   const std::string &message);

/* Throws a TypeError with a Node-style code, for the addon's own argument
 * guards (the TS layer has already produced the user-facing messages, so
 * these only fire when the internal API is misused). */
void ThrowTypeError(napi_env env, const std::string &message);

/* The errno name ('EBADF'), or 'UNKNOWN' for a value not in the table. */
const char *ErrnoCode(int err);

} // namespace aiocontext

#endif /* AIOCONTEXT_ERRORS_H */
