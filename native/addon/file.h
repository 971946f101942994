/*
 * file.h — class File: the native side of AioFile (src/file.ts), a core
 * AioFile (native/core/file.h) bound to a Context.
 *
 * Requests.  Each operation takes the JS request object (an Aiocb, which
 * holds the user's callback and buffers) and keeps it referenced from
 * submission until the core's completion callback ran: the garbage
 * collector can never free memory the kernel or a worker thread writes
 * into, whatever the user keeps.  While any request is in flight the File
 * holds a reference on its own wrapper, and the JS request object reaches
 * the context through its AioFile, so neither can be collected under it.
 * The completion calls the one JS `complete(req, res)` function given at
 * open, through CallFromCore(): in the context's home thread, from its
 * dispatch, with exceptions routed as for every other callback.
 *
 * Close.  close() throws ERR_AIO_BUSY while requests are in flight (the
 * context's close() does the same: src/context.ts checks first).  The only
 * close paths that cannot refuse, the environment cleanup hook and the
 * finalizer of a Context (CloseFromContext), cancel the reads (whose
 * results have nowhere to go; one on a FIFO could wait forever), wait for
 * the requests with aio_poll() and drop their JS objects without calling
 * JS.
 *
 * Home thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FILE_ADDON_H
#define AIOCONTEXT_FILE_ADDON_H

#include "context.h"

#include <napi.h>

/* The core's file.h (this header shadows its name in the addon's directory). */
extern "C" {
#include "../core/file.h"
}

#include <list>
#include <string>
#include <unordered_map>

namespace aiocontext {

struct Addon;
struct FileRequest;

class File : public Napi::ObjectWrap<File> {
public:
    static Napi::Function Init(Napi::Env env, Addon *addon);

    /* new File(ctx, path, flags, mode, engine, complete) */
    explicit File(const Napi::CallbackInfo &info);
    ~File() override;

    /* Close path of the context (and of the environment): cancels the
     * reads in flight, waits for every request without calling JS, then
     * closes.  Idempotent. */
    void CloseFromContext();

    /* Requests in flight on every file of @ctx. */
    static unsigned InFlight(const Context *ctx);

private:
    friend struct FileRequest;

    static void Complete(void *opaque, int ret);
    /* The open core file, or null with ERR_AIO_CLOSED/WRONG_THREAD thrown. */
    ::AioFile *Usable(napi_env env) const;
    std::string Describe() const;
    /* Registers @req (the JS Aiocb) as in flight; returns the record. */
    FileRequest *Track(napi_env env, napi_value req);
    Napi::Value Submitted(napi_env env, FileRequest *r, BlockAIOCB *acb);
    /* Closes and frees the core file. */
    void CloseCore();

    Napi::Value JS_read(const Napi::CallbackInfo &info);
    Napi::Value JS_write(const Napi::CallbackInfo &info);
    Napi::Value JS_readv(const Napi::CallbackInfo &info);
    Napi::Value JS_writev(const Napi::CallbackInfo &info);
    Napi::Value JS_flush(const Napi::CallbackInfo &info);
    Napi::Value JS_discard(const Napi::CallbackInfo &info);
    Napi::Value JS_cancel(const Napi::CallbackInfo &info);
    Napi::Value JS_close(const Napi::CallbackInfo &info);
    Napi::Value JS_fd(const Napi::CallbackInfo &info);
    Napi::Value JS_engine(const Napi::CallbackInfo &info);
    Napi::Value JS_fallbackReason(const Napi::CallbackInfo &info);
    Napi::Value JS_inFlight(const Napi::CallbackInfo &info);

    Napi::Value Rw(const Napi::CallbackInfo &info, bool write, bool vectored);

    Addon *addon_;
    Context::Link owner_;
    ::AioFile *file_ = nullptr; /* null once closed */
    std::string path_;
    int fd_ = -1;
    AioEngine engine_ = AIO_ENGINE_THREADS;
    std::string fallback_; /* empty: none */
    Napi::FunctionReference complete_;
    uint32_t nextId_ = 1;
    std::unordered_map<uint32_t, FileRequest *> requests_;
    std::list<File *>::iterator pos_; /* in the context's files_ */
};

} // namespace aiocontext

#endif /* AIOCONTEXT_FILE_ADDON_H */
