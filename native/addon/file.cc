/*
 * file.cc — class File (see file.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "file.h"

#include "addon.h"
#include "callback.h"
#include "errors.h"
#include "guards.h"
#include "modules.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace aiocontext {

/* One request in flight: from submission until the core's callback. */
struct FileRequest {
    File *file;
    uint32_t id;
    napi_ref req;    /* the JS Aiocb: callback and buffers (strong) */
    BlockAIOCB *acb; /* valid until Complete() returns */
    bool silent;     /* drop the result: the environment is going */
    bool read;       /* a read: nothing is lost if it is cancelled */
};

/* The engines in IoEngine's order (src/file.ts), which is the core's. */
static_assert(AIO_ENGINE_AUTO == 0 && AIO_ENGINE_THREADS == 1 &&
                  AIO_ENGINE_LINUX_AIO == 2 && AIO_ENGINE_IO_URING == 3,
              "IoEngine order");

/* ---- buffers ------------------------------------------------------------- */

static size_t ElementSize(napi_typedarray_type type)
{
    switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8; /* float64, bigint64, biguint64 */
    }
}

/* The bytes of the ArrayBufferView @v.  Returns false with a TypeError
 * pending if @v is not a view or its buffer was detached (a detached view
 * reads as empty: submitting it would silently transfer nothing). */
static bool ViewBytes(napi_env env, napi_value v, struct iovec *iov)
{
    bool is = false;
    bool detached = false;
    napi_value buffer = nullptr;
    void *data = nullptr;
    size_t length = 0, offset = 0;

    if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
        napi_typedarray_type type;
        size_t count;
        napi_get_typedarray_info(env, v, &type, &count, &data, &buffer,
                                 &offset);
        length = count * ElementSize(type);
    } else if (napi_is_dataview(env, v, &is) == napi_ok && is) {
        napi_get_dataview_info(env, v, &length, &data, &buffer, &offset);
    } else {
        ThrowTypeError(env, "buffers must be ArrayBufferViews");
        return false;
    }
    if (buffer &&
        napi_is_detached_arraybuffer(env, buffer, &detached) == napi_ok &&
        detached) {
        ThrowTypeError(env, "a buffer's ArrayBuffer is detached");
        return false;
    }
    iov->iov_base = data;
    iov->iov_len = length;
    return true;
}

/* An offset or length: a non-negative safe integer (checked by TS). */
static bool Offset(const Napi::Value &v, int64_t *out)
{
    if (!v.IsNumber()) {
        return false;
    }
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0) ||
        d != static_cast<double>(static_cast<int64_t>(d))) {
        return false;
    }
    *out = static_cast<int64_t>(d);
    return true;
}

/* ---- class --------------------------------------------------------------- */

Napi::Function File::Init(Napi::Env env, Addon *addon)
{
    return DefineClass(
        env, "File",
        {
            InstanceMethod<&File::JS_read>("read"),
            InstanceMethod<&File::JS_write>("write"),
            InstanceMethod<&File::JS_readv>("readv"),
            InstanceMethod<&File::JS_writev>("writev"),
            InstanceMethod<&File::JS_flush>("flush"),
            InstanceMethod<&File::JS_discard>("discard"),
            InstanceMethod<&File::JS_cancel>("cancel"),
            InstanceMethod<&File::JS_close>("close"),
            InstanceAccessor<&File::JS_fd>("fd"),
            InstanceAccessor<&File::JS_engine>("engine"),
            InstanceAccessor<&File::JS_fallbackReason>("fallbackReason"),
            InstanceAccessor<&File::JS_inFlight>("inFlight"),
        },
        addon);
}

/* new File(ctx, path, flags, mode, engine, complete) */
File::File(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<File>(info), addon_(static_cast<Addon *>(info.Data()))
{
    Napi::Env env = info.Env();
    Context *ctx = UnwrapTagged<Context>(env, info[0], &addon_->tags.context,
                                         "argument 0 must be a Context");
    if (!ctx || !ctx->CheckUsable(env)) {
        return;
    }
    if (!info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber() ||
        !info[4].IsNumber() || !info[5].IsFunction()) {
        ThrowTypeError(env, "File(ctx, path, flags, mode, engine, complete)");
        return;
    }
    path_ = info[1].As<Napi::String>().Utf8Value();
    int flags = info[2].As<Napi::Number>().Int32Value();
    int mode = info[3].As<Napi::Number>().Int32Value();
    int engine = info[4].As<Napi::Number>().Int32Value();
    if (engine < AIO_ENGINE_AUTO || engine > AIO_ENGINE_IO_URING || mode < 0 ||
        path_.find('\0') != std::string::npos) {
        ThrowTypeError(env, "File(): bad engine, mode or path");
        return;
    }

    int ret = aio_file_open(ctx->core(), path_.c_str(), flags,
                            static_cast<mode_t>(mode),
                            static_cast<AioEngine>(engine), &file_);
    if (ret < 0) {
        file_ = nullptr;
        ThrowErrno(addon_, env, -ret, "open");
        return;
    }
    fd_ = aio_file_get_fd(file_);
    engine_ = aio_file_get_engine(file_);
    const char *reason = aio_file_get_fallback_reason(file_);
    fallback_ = reason ? reason : "";
    complete_ = Napi::Persistent(info[5].As<Napi::Function>());
    owner_ = ctx->link();
    ctx->files_.push_back(this);
    pos_ = std::prev(ctx->files_.end());
}

File::~File()
{
    /* Collectable only with no request in flight (see file.h); the context
     * may still be open if JS dropped an unclosed file: close it now. */
    if (file_) {
        Context *ctx = Context::Open(owner_);
        if (ctx) {
            ctx->files_.erase(pos_);
        }
        CloseCore();
    }
}

std::string File::Describe() const
{
    return "AioFile '" + path_ + "'";
}

::AioFile *File::Usable(napi_env env) const
{
    Context *ctx = file_ ? Context::Open(owner_) : nullptr;

    if (!ctx) {
        ThrowState(addon_, env, AioState::Closed, Describe());
        return nullptr;
    }
    if (!aio_context_in_home_thread(ctx->core())) {
        ThrowState(addon_, env, AioState::WrongThread, Describe());
        return nullptr;
    }
    return file_;
}

unsigned File::InFlight(const Context *ctx)
{
    unsigned n = 0;
    for (const File *f : ctx->files_) {
        n += static_cast<unsigned>(f->requests_.size());
    }
    return n;
}

/* ---- requests ------------------------------------------------------------ */

FileRequest *File::Track(napi_env env, napi_value req)
{
    auto *r = new FileRequest{this, nextId_++, nullptr, nullptr, false, false};
    if (nextId_ == 0) {
        nextId_ = 1; /* 0 is never an id */
    }
    napi_create_reference(env, req, 1, &r->req);
    return r;
}

/* The core accepted @r (it completes exactly once, later): count it. */
Napi::Value File::Submitted(napi_env env, FileRequest *r, BlockAIOCB *acb)
{
    r->acb = acb;
    if (requests_.empty()) {
        Ref(); /* this wrapper outlives its requests */
        requests_.emplace(r->id, r);
        Context::WorkChanged(owner_); /* Node's loop: now alive for it */
    } else {
        requests_.emplace(r->id, r);
    }
    return Napi::Number::New(env, r->id);
}

/* The core's completion: @ret is bytes or a negative errno.  Bookkeeping
 * first, then JS, after which nothing of the request is used but the
 * record (the callback may close the file or the context: neither frees
 * this File, which only the GC does). */
void File::Complete(void *opaque, int ret)
{
    auto *r = static_cast<FileRequest *>(opaque);
    File *self = r->file;
    Addon *addon = self->addon_;
    napi_env env = addon->env;

    self->requests_.erase(r->id);
    bool last = self->requests_.empty();

    napi_handle_scope scope;
    if (!r->silent && !addon->tornDown &&
        napi_open_handle_scope(env, &scope) == napi_ok) {
        napi_value argv[2] = {nullptr, nullptr};
        napi_value fn = nullptr;
        napi_get_reference_value(env, r->req, &argv[0]);
        napi_get_reference_value(env, self->complete_, &fn);
        napi_create_int32(env, ret, &argv[1]);
        if (argv[0] && fn) {
            CallFromCore(addon, fn, 2, argv);
        }
        napi_close_handle_scope(env, scope);
    }
    napi_delete_reference(env, r->req);
    delete r;
    if (last) {
        self->Unref();
    }
}

/* read/write(req, buf, position), readv/writev(req, bufs, position) */
Napi::Value File::Rw(const Napi::CallbackInfo &info, bool write, bool vectored)
{
    Napi::Env env = info.Env();
    ::AioFile *f = Usable(env);
    REQUIRE(f);
    REQUIRE_ARG_OBJECT(0, req);
    int64_t offset;
    if (!Offset(info[2], &offset)) {
        AIO_ARG_FAIL(2, "a non-negative safe integer");
    }

    std::vector<struct iovec> iov;
    if (vectored) {
        if (!info[1].IsArray()) {
            AIO_ARG_FAIL(1, "an array of ArrayBufferViews");
        }
        Napi::Array bufs = info[1].As<Napi::Array>();
        uint32_t n = bufs.Length();
        if (n > IOV_MAX) {
            AIO_ARG_FAIL(1, "an array of at most IOV_MAX buffers");
        }
        iov.resize(n);
        for (uint32_t i = 0; i < n; i++) {
            REQUIRE(ViewBytes(env, bufs.Get(i), &iov[i]));
        }
    } else {
        iov.resize(1);
        REQUIRE(ViewBytes(env, info[1], &iov[0]));
    }
    if (iov.empty()) {
        /* No buffer: a request of 0 bytes (the core wants at least one). */
        iov.push_back({nullptr, 0});
    }

    FileRequest *r = Track(env, req);
    r->read = !write;
    BlockAIOCB *acb = write ? aio_file_pwritev(f, offset, iov.data(),
                                               int(iov.size()), Complete, r)
                            : aio_file_preadv(f, offset, iov.data(),
                                              int(iov.size()), Complete, r);
    return Submitted(env, r, acb);
}

Napi::Value File::JS_read(const Napi::CallbackInfo &info)
{
    return Rw(info, false, false);
}

Napi::Value File::JS_write(const Napi::CallbackInfo &info)
{
    return Rw(info, true, false);
}

Napi::Value File::JS_readv(const Napi::CallbackInfo &info)
{
    return Rw(info, false, true);
}

Napi::Value File::JS_writev(const Napi::CallbackInfo &info)
{
    return Rw(info, true, true);
}

/* flush(req) */
Napi::Value File::JS_flush(const Napi::CallbackInfo &info)
{
    ::AioFile *f = Usable(info.Env());
    REQUIRE(f);
    REQUIRE_ARG_OBJECT(0, req);
    FileRequest *r = Track(info.Env(), req);
    return Submitted(info.Env(), r, aio_file_fdatasync(f, Complete, r));
}

/* discard(req, position, length) */
Napi::Value File::JS_discard(const Napi::CallbackInfo &info)
{
    ::AioFile *f = Usable(info.Env());
    REQUIRE(f);
    REQUIRE_ARG_OBJECT(0, req);
    int64_t offset, bytes;
    if (!Offset(info[1], &offset) || !Offset(info[2], &bytes)) {
        AIO_ARG_FAIL(1, "a non-negative safe integer (position, length)");
    }
    FileRequest *r = Track(info.Env(), req);
    return Submitted(info.Env(), r,
                     aio_file_discard(f, offset, bytes, Complete, r));
}

/* cancel(id): aio_cancel_async; nothing for a request that completed. */
Napi::Value File::JS_cancel(const Napi::CallbackInfo &info)
{
    REQUIRE(Usable(info.Env()));
    REQUIRE_ARG_NUMBER(0, id);
    auto it = requests_.find(static_cast<uint32_t>(id));
    if (it != requests_.end()) {
        aio_cancel_async(it->second->acb);
    }
    return Napi::Value();
}

/* ---- close --------------------------------------------------------------- */

/* The core file has no request in flight here (the core stops counting a
 * request before its callback, so this also holds inside the callback of
 * the last one), so aio_file_close() cannot refuse. */
void File::CloseCore()
{
    ::AioFile *f = file_;
    file_ = nullptr;
    complete_.Reset();
    aio_file_close(f); /* close(2)'s error has no one to go to */
}

/* close(): ERR_AIO_BUSY while requests are in flight; idempotent. */
Napi::Value File::JS_close(const Napi::CallbackInfo &info)
{
    Napi::Env env = info.Env();
    if (!file_) {
        return Napi::Value();
    }
    Context *ctx = Context::Open(owner_);
    if (ctx && !aio_context_in_home_thread(ctx->core())) {
        ThrowState(addon_, env, AioState::WrongThread, Describe());
        return Napi::Value();
    }
    if (!requests_.empty()) {
        ThrowAioError(addon_, env, "ERR_AIO_BUSY",
                      Describe() + " has " + std::to_string(requests_.size()) +
                          " request(s) in flight: wait for their callbacks "
                          "(or cancel them) before close()");
        return Napi::Value();
    }
    if (ctx) {
        ctx->files_.erase(pos_);
    }
    CloseCore();
    return Napi::Value();
}

void File::CloseFromContext()
{
    /* The context empties its files_ list itself. */
    if (!file_) {
        return;
    }
    Context *ctx = Context::Open(owner_);
    /* A read's result goes nowhere now: cancel it, for a read that may
     * never end (a FIFO, a terminal: io_uring waits for data) would hang
     * the Worker's termination here.  Writes, flushes and discards are
     * waited for, so that data handed to write() is not dropped.  No
     * engine completes inside aio_cancel_async(), so requests_ is stable. */
    for (auto &entry : requests_) {
        entry.second->silent = true;
        if (entry.second->read) {
            aio_cancel_async(entry.second->acb);
        }
    }
    while (!requests_.empty() && ctx) {
        aio_poll(ctx->core(), true);
    }
    CloseCore();
}

/* ---- aligned buffers ----------------------------------------------------- */

/* alignedBuffer(size, alignment): a Uint8Array of @size bytes whose memory
 * starts at a multiple of @alignment (a power of two), for O_DIRECT (QEMU's
 * qemu_blockalign): a view into an ordinary ArrayBuffer that is
 * alignment - 1 bytes larger.  Not posix_memalign() behind an external
 * ArrayBuffer: Node-API runs the finalizers of external buffers while the
 * environment is torn down, before our cleanup hook has waited for the
 * requests that still write into them; V8's own backing stores live until
 * the isolate goes, and never move.  Zero-filled. */
Napi::Value JS_alignedBuffer(const Napi::CallbackInfo &info)
{
    REQUIRE_ARG_NUMBER(0, size);
    REQUIRE_ARG_NUMBER(1, alignment);
    if (!(size >= 0 && size <= double(1ULL << 32)) ||
        !(alignment >= 1 && alignment <= 1 << 20)) {
        AIO_ARG_FAIL(0, "a size in [0, 4 GiB] and an alignment in [1, 1 MiB]");
    }
    size_t bytes = static_cast<size_t>(size);
    size_t align = static_cast<size_t>(alignment);
    if ((align & (align - 1)) != 0) {
        AIO_ARG_FAIL(1, "a power of two");
    }
    Napi::Env env = info.Env();
    void *data = nullptr;
    napi_value buffer, view;
    if (napi_create_arraybuffer(env, bytes + align - 1, &data, &buffer) !=
        napi_ok) {
        return Napi::Value(); /* RangeError pending (allocation failed) */
    }
    size_t offset = (align - reinterpret_cast<uintptr_t>(data) % align) % align;
    napi_create_typedarray(env, napi_uint8_array, bytes, buffer, offset, &view);
    return Napi::Value(env, view);
}

/* ---- accessors ----------------------------------------------------------- */

Napi::Value File::JS_fd(const Napi::CallbackInfo &info)
{
    return Napi::Number::New(info.Env(), fd_);
}

Napi::Value File::JS_engine(const Napi::CallbackInfo &info)
{
    return Napi::String::New(info.Env(), aio_engine_name(engine_));
}

Napi::Value File::JS_fallbackReason(const Napi::CallbackInfo &info)
{
    if (fallback_.empty()) {
        return info.Env().Null();
    }
    return Napi::String::New(info.Env(), fallback_);
}

Napi::Value File::JS_inFlight(const Napi::CallbackInfo &info)
{
    return Napi::Number::New(info.Env(), double(requests_.size()));
}

} // namespace aiocontext
