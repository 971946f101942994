/*
 * pipe.cc — pipe(): a non-blocking, close-on-exec pipe2(), for users and
 * tests that need a pair of descriptors to hand to setFdHandler().  Node has
 * no such call of its own.  The caller owns both descriptors (close them
 * with fs.closeSync()).
 *
 * SPDX-License-Identifier: MIT
 */
#include "addon.h"
#include "errors.h"
#include "modules.h"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace aiocontext {

/* pipe(): [readFd, writeFd].  Any thread. */
Napi::Value JS_pipe(const Napi::CallbackInfo &info)
{
    auto *addon = static_cast<Addon *>(info.Data());
    int fds[2];

    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        ThrowErrno(addon, info.Env(), errno, "pipe2");
        return Napi::Value();
    }
    Napi::Array pair = Napi::Array::New(info.Env(), 2);
    pair.Set(uint32_t(0), Napi::Number::New(info.Env(), fds[0]));
    pair.Set(uint32_t(1), Napi::Number::New(info.Env(), fds[1]));
    return pair;
}

} // namespace aiocontext
