/*
 * poll() hands BH callbacks back to JS (native/addon/poll-driver.h,
 * src/poll-driver.ts): the core's pass stops after such a BH, JS calls the
 * function and the pass goes on.  Callbacks must see exactly aio_poll():
 * the order of BHs, fd handlers and timers in one pass, the errors of
 * each, nesting, closing mid-pass, and a poll() stack that unwinds however
 * a callback leaves it.
 */
import * as fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { AioContext, SCALE_NS, pipe, virtualClock } from 'aiocontext';
import { closeFds, drain, openContext, writeBytes } from './helpers/loop.js';

test('poll-driver: one pass runs BHs (LIFO), then fd handlers, then timers; their throws make one AggregateError in that order', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const ran: string[] = [];
  const a = ctx.bh(() => {
    ran.push('a');
    throw new Error('a');
  });
  const b = ctx.bh(() => {
    ran.push('b');
  });
  ctx.setFdHandler(r, {
    read: () => {
      ran.push('fd');
      ctx.setFdHandler(r, null);
      throw new Error('fd');
    },
  });
  virtualClock.stop();
  t.teardown(() => virtualClock.resume());
  const timer = ctx.timer('virtual', SCALE_NS, () => {
    ran.push('timer');
    throw new Error('timer');
  });
  timer.modNs(virtualClock.now() + 10);
  virtualClock.step(10);
  writeBytes(w);
  a.schedule();
  b.schedule();
  const err = t.throws(() => ctx.poll(true)) as AggregateError;
  t.true(err instanceof AggregateError);
  t.deepEqual(
    err.errors.map((e: Error) => e.message),
    ['a', 'fd', 'timer'],
  );
  t.deepEqual(ran, ['b', 'a', 'fd', 'timer']);
  t.false(ctx.poll(false));
  a.delete();
  b.delete();
  timer.delete();
});

test('poll-driver: a poll() nested in a BH callback runs the rest of the outer pass, which then runs nothing more', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const ran: string[] = [];
  let nested: boolean | undefined;
  const bhs = ['x', 'y', 'z'].map((name) =>
    ctx.bh(() => {
      ran.push(name);
      if (name === 'z') nested = ctx.poll(false);
    }),
  );
  for (const bh of bhs) bh.schedule(); // runs z, y, x (LIFO)
  t.true(ctx.poll(false));
  t.deepEqual(ran, ['z', 'y', 'x']);
  t.true(nested);
  t.false(ctx.poll(false));
  for (const bh of bhs) bh.delete();
});

test('poll-driver: a BH callback that cancels or deletes a later BH of its pass, or schedules itself, sees aio_poll() semantics', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const ran: string[] = [];
  const later1 = ctx.bh(() => ran.push('later1'));
  const later2 = ctx.bh(() => ran.push('later2'));
  const first = ctx.bh(() => {
    ran.push('first');
    later1.cancel();
    later2.delete();
    first.schedule(); // the next pass, not this one
  });
  later1.schedule();
  later2.schedule();
  first.schedule(); // first runs first (LIFO)
  t.true(ctx.poll(false));
  t.deepEqual(ran, ['first']);
  t.true(ctx.poll(false));
  t.deepEqual(ran, ['first', 'first']);
  first.delete();
  later1.delete();
  t.false(ctx.poll(false));
});

test('poll-driver: a BH callback that closes the context ends the pass: nothing else runs, poll() returns true', (t) => {
  const ctx = new AioContext({ name: 'closing' });
  const ran: string[] = [];
  const other = ctx.bh(() => ran.push('other'));
  const oneshotRan: string[] = [];
  ctx.scheduleOneshot(() => oneshotRan.push('oneshot'));
  const closer = ctx.bh(() => {
    ran.push('closer');
    other.delete();
    closer.delete();
    ctx.close();
  });
  other.schedule();
  closer.schedule(); // runs before other and the oneshot (LIFO)
  t.true(ctx.poll(false));
  t.deepEqual(ran, ['closer']);
  t.deepEqual(oneshotRan, []);
  t.true(ctx.closed);
});

test('poll-driver: oneshots are handed back too, and run once', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const ran: number[] = [];
  for (let i = 0; i < 3; i++) ctx.scheduleOneshot(() => ran.push(i));
  t.true(ctx.poll(false));
  t.deepEqual(ran, [2, 1, 0]);
  t.false(ctx.poll(false));
});

test('poll-driver: a BH that returns a rejected promise is thrown by the next poll(), which runs nothing', async (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const reason = new Error('async bh');
  let runs = 0;
  const bh = ctx.bh(async () => {
    if (++runs === 1) throw reason;
  });
  bh.schedule();
  t.true(ctx.poll(false));
  await Promise.resolve(); // the rejection is seen by a microtask
  await new Promise((resolve) => queueMicrotask(() => resolve(undefined)));
  bh.schedule();
  t.is(t.throws(() => ctx.poll(false)), reason);
  t.is(runs, 1); // that poll() ran nothing
  t.true(ctx.poll(false));
  t.is(runs, 2);
  await new Promise((resolve) => setImmediate(resolve));
  bh.delete();
});

test('poll-driver: callbacks see `this` undefined and no arguments, as from C', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  let seen: { self: unknown; args: number } | undefined;
  const bh = ctx.bh(function (this: unknown, ...args: unknown[]) {
    seen = { self: this, args: args.length };
  });
  bh.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(seen, { self: undefined, args: 0 });
  bh.delete();
});

test('poll-driver: unbounded poll() recursion from BH callbacks throws a RangeError and leaves the context working', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  let depth = 0;
  const bh = ctx.bh(() => {
    depth++;
    bh.schedule();
    ctx.poll(false);
  });
  bh.schedule();
  const err = t.throws(() => ctx.poll(false));
  const errors = err instanceof AggregateError ? err.errors : [err];
  t.true(errors.length > 0);
  t.true(errors.every((e: unknown) => e instanceof RangeError), String(errors[0]));
  t.true(depth > 100);
  // Every pass ended: the stack is empty, and the context runs as before.
  bh.delete();
  drain(ctx);
  let ran = 0;
  const after = ctx.bh(() => ran++);
  after.schedule();
  t.true(ctx.poll(false));
  t.is(ran, 1);
  after.delete();
  // An fd handler removed now is freed at once (no pass holds the list).
  const [r, w] = pipe();
  ctx.setFdHandler(r, { read: () => {} });
  ctx.setFdHandler(r, null);
  t.is(ctx.stats.handlers, 0);
  closeFds(r, w);
});

for (const nested of [false, true]) {
  test(`poll-driver: a worker terminated inside a handed-back BH callback${nested ? ' of a nested poll()' : ''} exits cleanly`, async (t) => {
    const worker = new Worker(new URL('./workers/bh-spin.mjs', import.meta.url), { workerData: { nested } });
    const msg = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    t.is(msg, 'spinning');
    t.is(await worker.terminate(), 1);
  });
}

test('poll-driver: the pipe helper is real (sanity for the tests above)', (t) => {
  const [r, w] = pipe();
  writeBytes(w, 3);
  t.is(fs.readSync(r, Buffer.alloc(8)), 3);
  closeFds(r, w);
});

for (const pending of ['bh', 'fd', 'timer'] as const) {
  test(`poll-driver: a worker terminated inside a handed-back BH callback, with a JS ${pending} callback left in the pass, exits cleanly`, async (t) => {
    const worker = new Worker(new URL('./workers/bh-spin-pending.mjs', import.meta.url), { workerData: { pending, exit: false } });
    const msg = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    t.is(msg, 'spinning');
    t.is(await worker.terminate(), 1);
  });

  test(`poll-driver: process.exit() in a worker's handed-back BH callback, with a JS ${pending} callback left in the pass, exits the worker only`, async (t) => {
    const worker = new Worker(new URL('./workers/bh-spin-pending.mjs', import.meta.url), { workerData: { pending, exit: true } });
    const code = await new Promise((resolve, reject) => {
      worker.once('exit', resolve);
      worker.once('error', reject);
    });
    t.is(code, 7);
  });
}

test('poll-driver: a stack overflow at the edge of nested poll()s leaves no pass behind, whatever frame it lands in', (t) => {
  // Frame sizes move the overflow across poll()'s own JS code: before the
  // fix some left a pass on the stack and the next poll() spun for ever.
  const script = new URL('./workers/stack-overflow-poll.mjs', import.meta.url).pathname;
  for (let pad = 0; pad < 8; pad++) {
    const r = spawnSync(process.execPath, [script, String(pad)], { timeout: 20_000, encoding: 'utf8' });
    t.is(r.error, undefined, `pad ${pad}: ${r.error?.message ?? ''}`);
    t.is(r.status, 0, `pad ${pad}: ${r.stderr}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { outer: boolean; depthAfter: number; later: [boolean, number, number][] };
    t.true(out.outer, `pad ${pad}`);
    t.is(out.depthAfter, 0, `pad ${pad}`);
    t.deepEqual(out.later, [
      [true, 1, 0],
      [true, 1, 0],
      [true, 1, 0],
    ], `pad ${pad}`);
  }
});

test('poll-driver: a promise hook that throws is reported as uncaught and the pass goes on, as from C', (t) => {
  const script = new URL('./workers/promise-hook-throws.mjs', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [script], { timeout: 20_000, encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout.trim()), { thrown: 'b2 threw', ran: ['b1', 'b2'], uncaught: ['then() threw'] });
});
