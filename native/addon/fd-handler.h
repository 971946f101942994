/*
 * fd-handler.h — the JS side of fd handlers and event-notifier handlers.
 *
 * An FdRecord holds the JS functions of one registration (one fd in one
 * context) and is the opaque pointer the core hands to the trampolines.  It
 * is owned by its Context's fds_ map and refcounted: each trampoline holds a
 * reference while it calls JS, so replacing or removing a handler from
 * inside its own callback (or closing the context there) frees the record
 * only once that callback returned.  A retired record is also marked dead,
 * so that none of its functions runs again even if the core were to call it.
 *
 * Event notifiers are registered through the core's aio_set_event_notifier(),
 * whose callbacks receive the EventNotifier* instead of an opaque pointer.
 * The record therefore embeds its own copy of the notifier's descriptors in
 * a standard-layout NotifierBox: the pointer the core passes back is the
 * box, which leads to the record.  This way one notifier can be registered
 * in several contexts, each with its own handlers.
 *
 * Home thread only.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_FD_HANDLER_H
#define AIOCONTEXT_FD_HANDLER_H

#include <napi.h>

extern "C" {
#include "aio.h"
}

namespace aiocontext {

struct Addon;
struct FdRecord;
class EventNotifier;

/* Standard layout: a pointer to `en` is a pointer to the box. */
struct NotifierBox {
    ::EventNotifier en;
    FdRecord *record;
};

struct FdRecord {
    Addon *addon;
    int fd;
    unsigned refs = 1;       /* the fds_ map's, plus one per running call */
    bool dead = false;       /* retired: never call JS again */
    bool registered = false; /* the core accepted it */

    Napi::FunctionReference read;
    Napi::FunctionReference write;
    Napi::FunctionReference poll;
    Napi::FunctionReference pollBegin;
    Napi::FunctionReference pollEnd;
    Napi::FunctionReference flush; /* io_flush (the 2012 API) */

    /* Event-notifier registrations only. */
    EventNotifier *notifier = nullptr;
    Napi::ObjectReference notifierArg;     /* handed to every handler */
    Napi::ObjectReference notifierWrapper; /* keeps the native one alive */
    NotifierBox box;
};

/* A new record (one reference) for @fd; empty functions mean "none". */
FdRecord *NewFdRecord(Addon *addon, int fd, Napi::Function read,
                      Napi::Function write, Napi::Function poll,
                      Napi::Function pollBegin, Napi::Function pollEnd);

/* Makes @record an event-notifier record for @notifier: handlers receive
 * @arg (the user's EventNotifier object). */
void AttachNotifier(FdRecord *record, EventNotifier *notifier,
                    Napi::Object wrapper, Napi::Object arg);

/* Registers @record with the core (replacing the handler of its fd, whose
 * callbacks are never called after this returns), including its poll
 * begin/end hooks.  Returns: 0 or a negative errno; on error nothing
 * changed. */
int RegisterFdRecord(AioContext *ctx, FdRecord *record, bool external);

/* The record is no longer the core's: mark it dead and drop the owner's
 * reference. */
void RetireFdRecord(FdRecord *record);

} // namespace aiocontext

#endif /* AIOCONTEXT_FD_HANDLER_H */
