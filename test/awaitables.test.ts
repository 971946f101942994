/*
 * Awaitables on an AioContext: sleep(), readable(), writable(), nextBh(),
 * and run().  Each registers one thing on the context and removes it
 * however it settles (resolved, aborted, closed); they settle when the
 * context runs — here from Node's loop (attachToNodeLoop()) or run().
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, AioError, EventNotifier, SCALE_MS, clockNs, pipe } from 'aiocontext';
import { captureWarnings, closeFds, drain, fillPipe, openContext, readAvailable, throwsAio, writeBytes } from './helpers/loop.js';

/** A context attached to Node's loop for the test. */
function attached(t: ExecutionContext): AioContext {
  const ctx = openContext(t);
  const handle = ctx.attachToNodeLoop();
  t.teardown(() => handle.detach());
  return ctx;
}

function openPipe(t: ExecutionContext): [number, number] {
  const fds = pipe();
  t.teardown(() => closeFds(...fds));
  return fds;
}

/** Rejects if @promise has not settled after @ms. */
async function within<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a promise settled to, without throwing: ['ok', value] or ['error', reason]. */
async function outcome<T>(promise: Promise<T>): Promise<['ok', T] | ['error', unknown]> {
  try {
    return ['ok', await within(promise)];
  } catch (err) {
    return ['error', err];
  }
}

/* ---- resolving ------------------------------------------------------------- */

test('awaitables: sleep() resolves after its time and deletes its timer', async (t) => {
  const ctx = attached(t);
  const timers = ctx.stats.timers;
  const start = clockNs('realtime');
  const p = ctx.sleep(20 * SCALE_MS);
  t.is(ctx.stats.timers, timers + 1);
  t.is(await within(p), undefined);
  t.true(clockNs('realtime') - start >= 20 * SCALE_MS);
  t.is(ctx.stats.timers, timers);
});

test('awaitables: sleeps resolve in expiry order', async (t) => {
  const ctx = attached(t);
  const order: number[] = [];
  await within(
    Promise.all([30, 10, 20, 0].map((ms) => ctx.sleep(ms * SCALE_MS).then(() => order.push(ms)))),
  );
  t.deepEqual(order, [0, 10, 20, 30]);
});

test('awaitables: readable() and writable() resolve once, then remove their handler', async (t) => {
  const ctx = attached(t);
  const [r, w] = openPipe(t);
  const handlers = ctx.stats.handlers;

  await within(ctx.writable(w)); // an empty pipe is writable at once
  t.is(ctx.stats.handlers, handlers);

  let readable = false;
  const p = ctx.readable(r).then(() => {
    readable = true;
  });
  t.is(ctx.stats.handlers, handlers + 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.false(readable); // nothing written yet
  writeBytes(w, 3);
  await within(p);
  t.true(readable);
  t.is(ctx.stats.handlers, handlers);
  t.is(readAvailable(r), 3); // the data is left for the caller
  // The fd is free again.
  ctx.setFdHandler(r, { read: () => {} });
  ctx.setFdHandler(r, null);
});

test('awaitables: readable()/writable() throw ERR_AIO_BUSY on an fd that has a handler', async (t) => {
  const ctx = attached(t);
  const [r, w] = openPipe(t);
  ctx.setFdHandler(r, { read: () => {} });
  const err = throwsAio(t, () => ctx.readable(r), 'ERR_AIO_BUSY');
  t.regex(err?.message ?? '', new RegExp(`fd ${r}`));
  ctx.setFdHandler(r, null);

  const first = ctx.writable(w);
  throwsAio(t, () => ctx.writable(w), 'ERR_AIO_BUSY'); // one awaitable per fd at a time
  throwsAio(t, () => ctx.readable(w), 'ERR_AIO_BUSY');
  await within(first);

  const n = new EventNotifier();
  t.teardown(() => n.close());
  ctx.setEventNotifier(n, { read: () => {} });
  throwsAio(t, () => ctx.readable(n.fd), 'ERR_AIO_BUSY');
  ctx.setEventNotifier(n, null);
});

test('awaitables: nextBh() resolves in the next BH pass', async (t) => {
  const ctx = attached(t);
  const order: string[] = [];
  const bh = ctx.bh(() => order.push('bh'));
  t.teardown(() => {
    if (!ctx.closed) bh.delete();
  });
  bh.schedule();
  const bhs = ctx.stats.bhs;
  const p = ctx.nextBh().then(() => order.push(`nextBh (bh ran: ${order.includes('bh')})`));
  t.is(ctx.stats.bhs, bhs + 1);
  await within(p);
  await within(ctx.nextBh());
  // Same pass, LIFO within a slice as QEMU runs them: the later-scheduled
  // nextBh BH first, and its promise reaction before the next callback.
  t.deepEqual(order, ['nextBh (bh ran: false)', 'bh']);
  // Once that pass is over, the first nextBh's BH has been freed; the
  // second's is deleted and waits for the next pass.
  await new Promise((resolve) => setImmediate(resolve));
  t.is(ctx.stats.bhs, bhs + 1);
});

/* ---- abort and close --------------------------------------------------------- */

test("awaitables: abort rejects with the signal's reason and removes what was registered", async (t) => {
  const ctx = openContext(t); // not driven: only abort can settle them
  const [r, w] = openPipe(t);
  fillPipe(w); // w is not writable
  const base = { timers: ctx.stats.timers, handlers: ctx.stats.handlers, bhs: ctx.stats.bhs };

  const ac = new AbortController();
  const ps = [
    ctx.sleep(60_000 * SCALE_MS, { signal: ac.signal }),
    ctx.readable(r, { signal: ac.signal }),
    ctx.writable(w, { signal: ac.signal }),
    ctx.nextBh({ signal: ac.signal }),
  ];
  t.is(ctx.stats.timers, base.timers + 1);
  t.is(ctx.stats.handlers, base.handlers + 2);
  t.is(ctx.stats.bhs, base.bhs + 1);
  ac.abort();
  for (const p of ps) {
    const [kind, reason] = await outcome(p);
    t.is(kind, 'error');
    t.is(reason, ac.signal.reason);
    t.is((reason as Error).name, 'AbortError');
  }
  t.is(ctx.stats.timers, base.timers);
  t.is(ctx.stats.handlers, base.handlers);
  drain(ctx); // the deleted BH is freed by the next BH pass
  t.is(ctx.stats.bhs, base.bhs);
  readAvailable(r);

  // A custom reason is passed through as is.
  const custom = new AbortController();
  const p = ctx.sleep(60_000 * SCALE_MS, { signal: custom.signal });
  const reason = new Error('changed my mind');
  custom.abort(reason);
  t.deepEqual(await outcome(p), ['error', reason]);
});

test('awaitables: an already-aborted signal rejects at once and registers nothing', async (t) => {
  const ctx = openContext(t);
  const [r] = openPipe(t);
  const before = { timers: ctx.stats.timers, handlers: ctx.stats.handlers, bhs: ctx.stats.bhs };
  const signal = AbortSignal.abort();
  for (const p of [ctx.sleep(0, { signal }), ctx.readable(r, { signal }), ctx.nextBh({ signal })]) {
    t.deepEqual(await outcome(p), ['error', signal.reason]);
  }
  t.deepEqual({ timers: ctx.stats.timers, handlers: ctx.stats.handlers, bhs: ctx.stats.bhs }, before);
});

test('awaitables: abort after resolution changes nothing; abort leaves a replaced handler alone', async (t) => {
  const ctx = attached(t);
  const [r, w] = openPipe(t);
  const ac = new AbortController();
  await within(ctx.nextBh({ signal: ac.signal }));
  ac.abort(); // nothing left to remove; no unhandled rejection

  const ac2 = new AbortController();
  const p = ctx.readable(r, { signal: ac2.signal });
  let userReads = 0;
  ctx.setFdHandler(r, { read: () => userReads++ }); // replaces the awaitable's handler
  ac2.abort();
  t.is((await outcome(p))[0], 'error');
  t.true(ctx.stats.handlers >= 1); // the user's handler is still there
  writeBytes(w);
  await within(
    (async () => {
      while (userReads === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    })(),
  );
  t.true(userReads >= 1);
  ctx.setFdHandler(r, null);
});

test('awaitables: close() rejects pending awaitables with ERR_AIO_CLOSED and leaks nothing', async (t) => {
  const ctx = new AioContext({ name: 'closing' });
  const [r] = openPipe(t);
  const ps = [ctx.sleep(60_000 * SCALE_MS), ctx.readable(r), ctx.nextBh()];
  const warnings = await captureWarnings(() => ctx.close());
  t.deepEqual(warnings, []); // nextBh's BH is not reported as leaked
  for (const p of ps) {
    const [kind, err] = await outcome(p);
    t.is(kind, 'error');
    t.true(err instanceof AioError);
    t.is((err as AioError).code, 'ERR_AIO_CLOSED');
  }
  throwsAio(t, () => ctx.sleep(1), 'ERR_AIO_CLOSED');
  throwsAio(t, () => ctx.readable(r), 'ERR_AIO_CLOSED');
  throwsAio(t, () => ctx.nextBh(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => ctx.run(Promise.resolve()), 'ERR_AIO_CLOSED');
});

/* ---- run() ------------------------------------------------------------------- */

test('awaitables: run() drives poll(true) until the promise settles, and returns its value', async (t) => {
  const ctx = openContext(t); // not attached: only run() drives it
  const [r, w] = openPipe(t);
  const steps: string[] = [];
  const writer = ctx.timer('realtime', SCALE_MS, () => writeBytes(w));
  t.teardown(() => {
    if (!ctx.closed) writer.delete();
  });
  const value = await within(
    ctx.run(
      (async () => {
        await ctx.nextBh();
        steps.push('bh');
        await ctx.sleep(5 * SCALE_MS);
        steps.push('sleep');
        writer.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + 5);
        await ctx.readable(r);
        steps.push(`read ${readAvailable(r)}`);
        return 42;
      })(),
    ),
  );
  t.is(value, 42);
  t.deepEqual(steps, ['bh', 'sleep', 'read 1']);
});

test("awaitables: run() throws the promise's error, or what a callback threw", async (t) => {
  const ctx = openContext(t);
  const boom = new Error('boom');
  const [kind, err] = await outcome(
    ctx.run(
      (async () => {
        await ctx.nextBh();
        throw boom;
      })(),
    ),
  );
  t.deepEqual([kind, err], ['error', boom]);

  const fromCallback = new Error('from a BH');
  ctx.scheduleOneshot(() => {
    throw fromCallback;
  });
  t.deepEqual(await outcome(ctx.run(ctx.sleep(10 * SCALE_MS))), ['error', fromCallback]);
  drain(ctx);

  t.is(await ctx.run(7), 7); // a plain value, or a settled promise, returns at once
  t.is(await ctx.run(Promise.resolve('done')), 'done');
});

test("awaitables: run() on a context attached to Node's loop just awaits", async (t) => {
  const ctx = attached(t);
  let timeoutFired = false;
  const viaNode = new Promise<string>((resolve) =>
    setTimeout(() => {
      timeoutFired = true;
      resolve('from setTimeout');
    }, 10),
  );
  // With poll(true) this would block on a Node event; attached, it does not.
  t.is(await within(ctx.run(viaNode)), 'from setTimeout');
  t.true(timeoutFired);
});

/* ---- arguments -------------------------------------------------------------- */

test('awaitables: bad arguments throw at the call', (t) => {
  const ctx = openContext(t);
  t.throws(() => ctx.sleep(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ctx.sleep(Number.NaN), { instanceOf: RangeError });
  t.throws(() => ctx.sleep('5' as unknown as number), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => ctx.readable(-1), { instanceOf: RangeError });
  t.throws(() => ctx.writable(1.5), { instanceOf: RangeError });
  t.throws(() => ctx.readable('3' as unknown as number), { instanceOf: TypeError });
  t.throws(() => ctx.nextBh(5 as unknown as object), { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => ctx.sleep(1, { signal: {} as AbortSignal }), {
    instanceOf: TypeError,
    message: /The "options.signal" property must be an instance of AbortSignal/,
  });
  t.is(ctx.stats.timers, 0);
  t.is(ctx.stats.handlers, 0);
});
