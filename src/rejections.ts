/*
 * rejections.ts — a callback that returns a rejected promise is reported
 * like a callback that throws.
 *
 * The loop calls callbacks synchronously and ignores what they return, so
 * `ctx.bh(async () => { throw e })` would otherwise end in
 * 'unhandledRejection'.  The addon hands every promise a callback returns
 * to onCallbackPromise() before any microtask runs (see
 * native/addon/returned-promise.h); a rejection handler is attached at once,
 * so Node never reports it unhandled.  A rejection is known only once
 * microtasks run, which is after the callback and, under a driver, after
 * the poll() or iteration() that ran it has returned.  So the reason goes:
 *
 *  - callback run from a foreign loop (attachToNodeLoop(), GTK's main loop,
 *    node-gtk's iteration): to process 'uncaughtException', from the
 *    microtask that sees the rejection, exactly as a throw from such a
 *    callback does;
 *  - callback run by a driver (ctx.poll(), mainContext.iteration(), and so
 *    ctx.run()): thrown by the next poll() or iteration() called on this
 *    thread (any context), at its start: that call runs nothing and throws
 *    the reason (several: one AggregateError), and the call after it runs
 *    normally.  If no driver is called before the next macrotask turn (a
 *    setImmediate queued when the rejection is seen), the reason goes to
 *    'uncaughtException' instead: it is never lost.
 *
 * ctx.run() takes a macrotask turn after every poll(), with its own
 * setImmediate queued before the rejection is seen, so under run() a
 * rejection always reaches run()'s next poll() and rejects run()'s promise.
 */

/* Rejections of driver-run callbacks that no driver has thrown yet, oldest
 * first.  Per thread (module state is per isolate). */
let late: unknown[] = [];
let fallbackQueued = false;

function aggregate(errors: unknown[], where: string): unknown {
  if (errors.length === 1) return errors[0];
  return new AggregateError(errors, `${errors.length} callbacks returned rejected promises before ${where}`);
}

/* A macrotask turn passed with no driver: report like a foreign-loop throw. */
function fallback(): void {
  fallbackQueued = false;
  if (late.length === 0) return;
  const errors = late;
  late = [];
  throw aggregate(errors, 'the next macrotask');
}

/**
 * @internal The addon's hook: `promise` was returned by a callback, run
 * under a driver if `driven`.
 */
export function onCallbackPromise(promise: Promise<unknown>, driven: boolean): void {
  promise.then(undefined, (reason: unknown) => {
    if (!driven) {
      // Thrown from a microtask: Node routes it to 'uncaughtException'.
      queueMicrotask(() => {
        throw reason;
      });
      return;
    }
    late.push(reason);
    if (!fallbackQueued) {
      fallbackQueued = true;
      setImmediate(fallback);
    }
  });
}

/**
 * @internal Called by poll() and iteration() before they run anything:
 * throws the rejections of driver-run callbacks seen since the last driver
 * call (see above).  `where` names the driver, for the AggregateError.
 */
export function throwLateRejections(where: string): void {
  if (late.length === 0) return;
  const errors = late;
  late = [];
  throw aggregate(errors, `${where}()`);
}
