/*
 * fd-handler.cc — fd and event-notifier handler records and their
 * trampolines (see fd-handler.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "fd-handler.h"

#include "addon.h"
#include "callback.h"
#include "event-notifier.h"

#include <type_traits>

namespace aiocontext {

static_assert(std::is_standard_layout<NotifierBox>::value,
              "the core's EventNotifier* must convert back to its box");

static void Release(FdRecord *record)
{
    if (--record->refs == 0) {
        delete record;
    }
}

FdRecord *NewFdRecord(Addon *addon, int fd, Napi::Function read,
                      Napi::Function write, Napi::Function poll,
                      Napi::Function pollBegin, Napi::Function pollEnd)
{
    auto *record = new FdRecord();
    record->addon = addon;
    record->fd = fd;
    record->box.en = {-1, -1, false};
    record->box.record = record;
    if (!read.IsEmpty())
        record->read = Napi::Persistent(read);
    if (!write.IsEmpty())
        record->write = Napi::Persistent(write);
    if (!poll.IsEmpty())
        record->poll = Napi::Persistent(poll);
    if (!pollBegin.IsEmpty())
        record->pollBegin = Napi::Persistent(pollBegin);
    if (!pollEnd.IsEmpty())
        record->pollEnd = Napi::Persistent(pollEnd);
    return record;
}

void AttachNotifier(FdRecord *record, EventNotifier *notifier,
                    Napi::Object wrapper, Napi::Object arg)
{
    record->notifier = notifier;
    record->notifierWrapper = Napi::Persistent(wrapper);
    record->notifierArg = Napi::Persistent(arg);
    /* The same descriptors; only the address differs (see the header). */
    record->box.en = *notifier->core();
}

void RetireFdRecord(FdRecord *record)
{
    record->dead = true;
    if (record->registered && record->notifier) {
        record->notifier->RemoveRegistration();
    }
    record->registered = false;
    Release(record);
}

/* ---- trampolines --------------------------------------------------------- */

/* Calls one of @record's functions with the notifier argument, if any.
 * Returns: whether the function returned a truthy value (for io_poll); a
 * function that threw counts as truthy when @threw_value is true. */
static bool Call(FdRecord *record, Napi::FunctionReference FdRecord::*which,
                 bool threw_value = false)
{
    Napi::FunctionReference &fn = record->*which;
    Addon *addon = record->addon;
    napi_env env = addon->env;
    napi_value f = nullptr, arg = nullptr, result, truthy;
    bool value = false;

    if (record->dead || fn.IsEmpty()) {
        return false;
    }
    CoreCallScope scope(addon);
    if (!scope.ok()) {
        return false;
    }
    record->refs++; /* the callback may retire it */
    napi_get_reference_value(env, fn, &f);
    if (!record->notifierArg.IsEmpty()) {
        napi_get_reference_value(env, record->notifierArg, &arg);
    }
    if (f) {
        result = CallFromCore(addon, f, arg ? 1 : 0, &arg);
        if (!result) {
            value = threw_value;
        } else if (napi_coerce_to_bool(env, result, &truthy) == napi_ok) {
            napi_get_value_bool(env, truthy, &value);
        }
    }
    Release(record);
    return value;
}

static void OnRead(void *opaque)
{
    Call(static_cast<FdRecord *>(opaque), &FdRecord::read);
}

static void OnWrite(void *opaque)
{
    Call(static_cast<FdRecord *>(opaque), &FdRecord::write);
}

/* A poll hook that threw counts as a hit: busy polling stops at once (the
 * core then skips the wait) and the driver throws the error when the core
 * returns, instead of piling up one error per busy-poll pass. */
static bool OnPoll(void *opaque)
{
    return Call(static_cast<FdRecord *>(opaque), &FdRecord::poll, true);
}

/* io_poll found work: the JS poll hook already did it (it has no separate
 * "ready" callback), so there is nothing left to call. */
static void OnPollReady(void *opaque)
{
    (void)opaque;
}

static void OnPollBegin(void *opaque)
{
    Call(static_cast<FdRecord *>(opaque), &FdRecord::pollBegin);
}

static void OnPollEnd(void *opaque)
{
    Call(static_cast<FdRecord *>(opaque), &FdRecord::pollEnd);
}

/* io_flush: true while requests are in flight.  A hook that threw says
 * false, so aio_flush() ends and its driver throws the error. */
static bool OnFlush(void *opaque)
{
    return Call(static_cast<FdRecord *>(opaque), &FdRecord::flush);
}

static FdRecord *FromNotifier(void *e)
{
    return reinterpret_cast<NotifierBox *>(e)->record;
}

static void OnNotifierRead(::EventNotifier *e)
{
    Call(FromNotifier(e), &FdRecord::read);
}

static bool OnNotifierPoll(void *e)
{
    return Call(FromNotifier(e), &FdRecord::poll, true);
}

static void OnNotifierPollReady(::EventNotifier *e)
{
    (void)e;
}

static void OnNotifierPollBegin(::EventNotifier *e)
{
    Call(FromNotifier(e), &FdRecord::pollBegin);
}

static void OnNotifierPollEnd(::EventNotifier *e)
{
    Call(FromNotifier(e), &FdRecord::pollEnd);
}

/* ---- registration -------------------------------------------------------- */

int RegisterFdRecord(AioContext *ctx, FdRecord *record, bool external)
{
    bool poll = !record->poll.IsEmpty();
    bool begin = !record->pollBegin.IsEmpty();
    bool end = !record->pollEnd.IsEmpty();
    int ret;

    /* The poll hooks are always set, NULL included: the core carries the
     * replaced handler's hooks over, and those would get the wrong kind of
     * opaque pointer. */
    if (record->notifier) {
        ret = aio_set_event_notifier(ctx, &record->box.en, external,
                                     record->read.IsEmpty() ? nullptr
                                                            : OnNotifierRead,
                                     poll ? OnNotifierPoll : nullptr,
                                     poll ? OnNotifierPollReady : nullptr);
        if (ret == 0) {
            aio_set_event_notifier_poll(ctx, &record->box.en,
                                        begin ? OnNotifierPollBegin : nullptr,
                                        end ? OnNotifierPollEnd : nullptr);
        }
    } else {
        ret = aio_set_fd_handler_flush(
            ctx, record->fd, external,
            record->read.IsEmpty() ? nullptr : OnRead,
            record->write.IsEmpty() ? nullptr : OnWrite,
            record->flush.IsEmpty() ? nullptr : OnFlush,
            poll ? OnPoll : nullptr, poll ? OnPollReady : nullptr, record);
        if (ret == 0) {
            aio_set_fd_poll(ctx, record->fd, begin ? OnPollBegin : nullptr,
                            end ? OnPollEnd : nullptr);
        }
    }
    if (ret == 0) {
        record->registered = true;
        if (record->notifier) {
            record->notifier->AddRegistration();
        }
    }
    return ret;
}

} // namespace aiocontext
