/*
 * errors.cc — the error table and the throw helpers (see errors.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "errors.h"

#include "addon.h"

#include <cerrno>
#include <cstring>

namespace aiocontext {

/* ---- the table ----------------------------------------------------------- */

struct StateEntry {
    AioState state;
    const char *code;
    const char *text; /* follows the subject: "<subject> <text>" */
};

static const StateEntry kStates[] = {
    {AioState::Closed, "ERR_AIO_CLOSED", "is closed"},
    {AioState::WrongThread, "ERR_AIO_WRONG_THREAD",
     "was used outside its home thread (the thread that created it)"},
    {AioState::Deleted, "ERR_AIO_DELETED", "was deleted"},
    {AioState::NotDisabled, "ERR_AIO_NOT_DISABLED",
     "has no external handlers disabled: enableExternal() without a "
     "matching disableExternal()"},
    {AioState::NotAcquired, "ERR_AIO_NOT_ACQUIRED",
     "is not acquired: release() without a matching acquire()"},
    {AioState::Attached, "ERR_AIO_ATTACHED",
     "is already attached to a MainContext: detach() it first"},
    {AioState::Busy, "ERR_AIO_BUSY",
     "is still registered with an AioContext: remove it with "
     "setEventNotifier(n, null) first"},
    {AioState::WouldBlockForever, "ERR_AIO_WOULD_BLOCK_FOREVER",
     "has nothing armed (no fd handler, timer or scheduled BH) and was never "
     "shared with another thread: a blocking poll would never return (QEMU "
     "would sleep forever)"},
};

struct ErrnoEntry {
    int err;
    const char *code;
};

/* The errno values the core and the syscalls behind it can return.  Anything
 * else maps to 'UNKNOWN' (with the number in `errno`), never to a crash. */
static const ErrnoEntry kErrnos[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {ENODEV, "ENODEV"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {ENOSYS, "ENOSYS"},
    {ENOTSUP, "ENOTSUP"},
    {ECANCELED, "ECANCELED"},
    {ETIMEDOUT, "ETIMEDOUT"},
    /* files (AioFile): open(2) and block I/O */
    {EISDIR, "EISDIR"},
    {ENOTDIR, "ENOTDIR"},
    {EROFS, "EROFS"},
    {ESPIPE, "ESPIPE"},
    {EFBIG, "EFBIG"},
    {EOVERFLOW, "EOVERFLOW"},
    {ENXIO, "ENXIO"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ELOOP, "ELOOP"},
};

const char *ErrnoCode(int err)
{
    for (const ErrnoEntry &e : kErrnos) {
        if (e.err == err) {
            return e.code;
        }
    }
    return "UNKNOWN";
}

/* ---- construction -------------------------------------------------------- */

/* new AioError(message, code[, errno, syscall]) and throws it.  If building
 * the error itself threw, that exception stays pending instead (never throw
 * twice).  Without the class (setErrorClass() not called yet) a plain Error
 * with the same properties is thrown. */
static void Throw(Addon *addon, napi_env env, const char *code,
                  const std::string &message, int err, const char *syscall)
{
    Napi::Env e(env);
    Napi::HandleScope scope(e);
    Napi::Value msg = Napi::String::New(e, message);
    Napi::Value codeValue = Napi::String::New(e, code);
    Napi::Value error;

    if (addon && !addon->errorClass.IsEmpty()) {
        std::vector<napi_value> args = {msg, codeValue};
        if (err) {
            args.push_back(Napi::Number::New(e, err));
            args.push_back(Napi::String::New(e, syscall ? syscall : ""));
        }
        error = addon->errorClass.New(args);
        if (e.IsExceptionPending()) {
            return;
        }
    } else {
        Napi::Object plain = Napi::Error::New(e, message).Value();
        plain.Set("code", codeValue);
        if (err) {
            plain.Set("errno", Napi::Number::New(e, err));
            plain.Set("syscall", Napi::String::New(e, syscall ? syscall : ""));
        }
        error = plain;
    }
    napi_throw(env, error);
}

void ThrowState(Addon *addon, napi_env env, AioState state,
                const std::string &subject)
{
    for (const StateEntry &s : kStates) {
        if (s.state == state) {
            Throw(addon, env, s.code, subject + " " + s.text, 0, nullptr);
            return;
        }
    }
    Throw(addon, env, "ERR_AIO_UNKNOWN", subject + " failed", 0, nullptr);
}

void ThrowErrno(Addon *addon, napi_env env, int err, const char *syscall)
{
    const char *code = ErrnoCode(err);
    std::string message = std::string(code) + ": " + std::strerror(err);
    if (syscall) {
        message += std::string(", ") + syscall;
    }
    Throw(addon, env, code, message, err, syscall);
}

/* GFileError back to errno, for the values the core can produce. */
static int ErrnoFromGFileError(int code)
{
    switch (code) {
    case G_FILE_ERROR_ACCES: return EACCES;
    case G_FILE_ERROR_PERM: return EPERM;
    case G_FILE_ERROR_NOMEM: return ENOMEM;
    case G_FILE_ERROR_MFILE: return EMFILE;
    case G_FILE_ERROR_NFILE: return ENFILE;
    case G_FILE_ERROR_BADF: return EBADF;
    case G_FILE_ERROR_INVAL: return EINVAL;
    case G_FILE_ERROR_NOSYS: return ENOSYS;
    case G_FILE_ERROR_NOSPC: return ENOSPC;
    case G_FILE_ERROR_AGAIN: return EAGAIN;
    case G_FILE_ERROR_INTR: return EINTR;
    case G_FILE_ERROR_IO: return EIO;
    default: return 0;
    }
}

void ThrowGError(Addon *addon, napi_env env, const GError *error,
                 const char *syscall)
{
    int err = error && error->domain == G_FILE_ERROR
                  ? ErrnoFromGFileError(error->code)
                  : 0;
    std::string message = error ? error->message : "unknown error";

    if (err) {
        Throw(addon, env, ErrnoCode(err), message, err, syscall);
    } else {
        Throw(addon, env, "UNKNOWN", message, 0, nullptr);
    }
}

void ThrowAioError(Addon *addon, napi_env env, const char *code,
                   const std::string &message)
{
    Throw(addon, env, code, message, 0, nullptr);
}

void ThrowTypeError(napi_env env, const std::string &message)
{
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message.c_str());
}

} // namespace aiocontext
