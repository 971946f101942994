/*
 * Waiting and coroutines: waitWhile() (AIO_WAIT_WHILE), pending()
 * (aio_pending), flush() with fd handlers' flush hooks (aio_flush),
 * spawn() (a coroutine in JS terms), and ERR_AIO_WOULD_BLOCK_FOREVER for
 * blocking calls that nothing could ever wake.
 */
import test from 'ava';
import { AioContext, AioError, SCALE_MS, clockNs, pipe } from 'aiocontext';
import { closeFds, openContext, readAvailable, throwsAio, writeBytes } from './helpers/loop.js';

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/* ---- ERR_AIO_WOULD_BLOCK_FOREVER ------------------------------------------ */

test('poll(true) with nothing armed throws ERR_AIO_WOULD_BLOCK_FOREVER and changes nothing', (t) => {
  const ctx = openContext(t);
  const err = throwsAio(t, () => ctx.poll(true), 'ERR_AIO_WOULD_BLOCK_FOREVER');
  t.regex(err?.message ?? '', /AioContext '.*' has nothing armed .*QEMU would sleep forever/);
  // Non-blocking polls are fine; the context still works.
  t.false(ctx.poll(false));
  let ran = 0;
  ctx.scheduleOneshot(() => ran++);
  t.true(ctx.poll(true)); // a scheduled BH is armed work
  t.is(ran, 1);
  throwsAio(t, () => ctx.poll(true), 'ERR_AIO_WOULD_BLOCK_FOREVER');
});

test('poll(true) is allowed with a timer, an fd handler, or once shared; a stale notify does not count', (t) => {
  const ctx = openContext(t);
  ctx.poll(false); // takes the wake-up of the context's creation
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_MS, () => fired++);
  timer.modNs(clockNs('realtime') + 1_000_000);
  while (fired === 0) ctx.poll(true); // the first may end on the timer's notify
  t.is(fired, 1);
  timer.delete();

  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let reads = 0;
  ctx.setFdHandler(r, { read: () => reads++ + readAvailable(r) });
  writeBytes(w);
  while (reads === 0) ctx.poll(true);
  ctx.setFdHandler(r, null);

  ctx.notify();
  throwsAio(t, () => ctx.poll(true), 'ERR_AIO_WOULD_BLOCK_FOREVER');

  // Another thread may wake a shared context: blocking is legitimate.
  ctx.share();
  ctx.notify();
  t.false(ctx.poll(true));
});

test('sharing one of its BHs counts as shared', (t) => {
  const ctx = openContext(t);
  const bh = ctx.bh(() => {});
  t.teardown(() => bh.delete());
  throwsAio(t, () => ctx.waitWhile(() => true), 'ERR_AIO_WOULD_BLOCK_FOREVER');
  bh.share();
  ctx.notify();
  t.false(ctx.poll(true));
});

test('run() on a promise only Node can settle says so', async (t) => {
  const ctx = openContext(t);
  const never = new Promise<void>((resolve) => setTimeout(resolve, 50));
  const err = await t.throwsAsync(ctx.run(never), { instanceOf: AioError });
  t.is((err as AioError).code, 'ERR_AIO_WOULD_BLOCK_FOREVER');
  t.regex(err?.message ?? '', /run\(\) would block forever.*Node's own event loop/);
  await never;
});

/* ---- waitWhile ------------------------------------------------------------- */

test('waitWhile polls while the condition holds, and not at all when it does not', (t) => {
  const ctx = openContext(t);
  let conds = 0;
  ctx.waitWhile(() => {
    conds++;
    return false;
  });
  t.is(conds, 1);

  let left = 3;
  const bh = ctx.bh(() => {
    left--;
    if (left > 0) bh.schedule();
  });
  t.teardown(() => bh.delete());
  bh.schedule();
  conds = 0;
  ctx.waitWhile(() => {
    conds++;
    return left > 0;
  });
  t.is(left, 0);
  t.is(conds, 4);
});

test('waitWhile waits for a timer', (t) => {
  const ctx = openContext(t);
  let fired = false;
  const timer = ctx.timer('realtime', SCALE_MS, () => (fired = true));
  t.teardown(() => timer.delete());
  const start = clockNs('realtime');
  timer.mod(Math.ceil(clockNs('realtime') / 1e6) + 5);
  ctx.waitWhile(() => !fired);
  t.true(fired);
  t.true(clockNs('realtime') - start >= 4_000_000);
});

test('waitWhile throws what callbacks throw, what cond throws, and bad input', (t) => {
  const ctx = openContext(t);
  ctx.scheduleOneshot(() => {
    throw new Error('from a BH');
  });
  t.throws(() => ctx.waitWhile(() => true), { message: 'from a BH' });
  t.throws(
    () =>
      ctx.waitWhile(() => {
        throw new RangeError('from cond');
      }),
    { instanceOf: RangeError, message: 'from cond' },
  );
  t.throws(() => ctx.waitWhile(42 as never), { instanceOf: TypeError });
  throwsAio(t, () => ctx.waitWhile(() => true), 'ERR_AIO_WOULD_BLOCK_FOREVER');
  // A callback that closes the context ends the wait with ERR_AIO_CLOSED.
  const other = new AioContext();
  other.scheduleOneshot(() => other.close());
  throwsAio(t, () => other.waitWhile(() => true), 'ERR_AIO_CLOSED');
});

/* ---- pending and flush ----------------------------------------------------- */

test('pending() says whether poll(false) would run something, and runs nothing', (t) => {
  const ctx = openContext(t);
  t.false(ctx.pending());
  let ran = 0;
  const bh = ctx.bh(() => ran++);
  bh.schedule();
  t.true(ctx.pending());
  t.is(ran, 0);
  bh.cancel();
  t.false(ctx.pending());

  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  ctx.setFdHandler(r, { read: () => readAvailable(r) });
  t.false(ctx.pending());
  writeBytes(w);
  t.true(ctx.pending());
  t.true(ctx.poll(false));
  t.false(ctx.pending());
  ctx.setFdHandler(r, null);
  bh.delete();
  ctx.close();
  throwsAio(t, () => ctx.pending(), 'ERR_AIO_CLOSED');
});

test('flush() polls until no flush hook reports requests in flight', (t) => {
  const ctx = openContext(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let inFlight = 3;
  let flushCalls = 0;
  let reads = 0;
  // Each completion is a byte; a timer "completes" the next request.
  const timer = ctx.timer('realtime', SCALE_MS, () => writeBytes(w));
  t.teardown(() => timer.delete());
  ctx.setFdHandler(r, {
    read: () => {
      readAvailable(r);
      reads++;
      inFlight--;
      if (inFlight > 0) timer.modNs(clockNs('realtime') + 1_000_000);
    },
    flush: () => {
      flushCalls++;
      return inFlight > 0;
    },
  });
  timer.modNs(clockNs('realtime') + 1_000_000);
  ctx.flush();
  t.is(inFlight, 0);
  t.is(reads, 3);
  t.true(flushCalls >= 4);

  flushCalls = 0;
  ctx.flush(); // nothing in flight: one look, no poll
  t.is(flushCalls, 1);
  ctx.setFdHandler(r, null);
});

test('flush() also runs scheduled BHs; a throwing flush hook ends it and is thrown', (t) => {
  const ctx = openContext(t);
  let ran = 0;
  ctx.scheduleOneshot(() => ran++);
  ctx.flush();
  t.is(ran, 1);

  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  ctx.setFdHandler(r, {
    read: () => readAvailable(r),
    flush: () => {
      throw new Error('flush hook');
    },
  });
  t.throws(() => ctx.flush(), { message: 'flush hook' });
  t.throws(() => ctx.setFdHandler(r, { read: () => {}, flush: 1 as never }), { instanceOf: TypeError });
  ctx.setFdHandler(r, null);
  t.is(ctx.stats.handlers, 0);
});

/* ---- spawn ----------------------------------------------------------------- */

test('spawn() starts fn from a BH, not synchronously, and resolves with its result', async (t) => {
  const ctx = openContext(t);
  const log: string[] = [];
  const p = ctx.spawn(async () => {
    log.push('start');
    await ctx.nextBh();
    log.push('after nextBh');
    await ctx.sleep(1_000_000);
    log.push('after sleep');
    return 42;
  });
  t.deepEqual(log, []);
  t.true(ctx.pending()); // its BH
  t.is(await ctx.run(p), 42);
  t.deepEqual(log, ['start', 'after nextBh', 'after sleep']);
});

test('under poll(), continuations run only once the calling JS returns to the loop', async (t) => {
  const ctx = openContext(t);
  let step = 0;
  const p = ctx.spawn(async () => {
    step = 1;
    await ctx.nextBh();
    step = 2;
  });
  t.true(ctx.poll(false)); // the spawn BH: first step runs inside dispatch
  t.is(step, 1);
  t.true(ctx.poll(false)); // nextBh resolves from this dispatch...
  t.is(step, 1); // ...but the continuation cannot run inside a JS call
  await macrotask();
  t.is(step, 2);
  await p;
});

test("spawned steps interleave with the context's callbacks under attachToNodeLoop", async (t) => {
  const ctx = openContext(t);
  const handle = ctx.attachToNodeLoop();
  t.teardown(() => handle.detach());
  const log: string[] = [];
  const ticker = ctx.bh(() => {
    log.push('bh');
    if (log.length < 8) ticker.schedule();
  });
  t.teardown(() => ticker.delete());
  const p = ctx.spawn(async () => {
    for (let i = 0; i < 3; i++) {
      log.push(`co${i}`);
      await ctx.nextBh();
    }
    return 'done';
  });
  ticker.schedule();
  t.is(await p, 'done');
  // Each step ran from a dispatch, between BH passes: both make progress.
  t.true(log.includes('co0') && log.includes('co2'));
  t.true(log.indexOf('co1') > log.indexOf('co0'));
  const bhBetween = log.slice(log.indexOf('co0'), log.indexOf('co2')).filter((x) => x === 'bh').length;
  t.true(bhBetween >= 1);
});

test("spawn()'s throw rejects only its promise: the driver does not throw it", async (t) => {
  const ctx = openContext(t);
  const p = ctx.spawn(async () => {
    throw new Error('inside');
  });
  const q = ctx.spawn((() => {
    throw new TypeError('synchronous');
  }) as never);
  t.notThrows(() => ctx.poll(false));
  await t.throwsAsync(p, { message: 'inside' });
  await t.throwsAsync(q, { instanceOf: TypeError, message: 'synchronous' });

  const r = ctx.spawn(async () => {
    await ctx.nextBh();
    throw new Error('later');
  });
  await t.throwsAsync(ctx.run(r), { message: 'later' });
});

test('close() before a spawned function started rejects it with ERR_AIO_CLOSED', async (t) => {
  const ctx = new AioContext();
  let ran = false;
  const p = ctx.spawn(async () => {
    ran = true;
  });
  ctx.close();
  const err = await t.throwsAsync(p, { instanceOf: AioError });
  t.is((err as AioError).code, 'ERR_AIO_CLOSED');
  t.false(ran);
});

test('close() while a spawned function awaits rejects what it awaits', async (t) => {
  const ctx = new AioContext();
  const p = ctx.spawn(async () => {
    await ctx.sleep(10_000_000_000);
    return 'never';
  });
  ctx.poll(false); // started: now waiting on its timer
  ctx.close();
  const err = await t.throwsAsync(p, { instanceOf: AioError });
  t.is((err as AioError).code, 'ERR_AIO_CLOSED');
});

test('spawn() checks its argument and the context', (t) => {
  const ctx = openContext(t);
  t.throws(() => ctx.spawn('no' as never), { instanceOf: TypeError });
  t.false(ctx.pending()); // nothing scheduled
  ctx.close();
  throwsAio(t, () => ctx.spawn(async () => 1), 'ERR_AIO_CLOSED');
});
