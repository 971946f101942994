/*
 * An API that catches mistakes (issue 12, section 2): unknown keys in
 * handler objects and option bags, promise-returning callbacks reported like
 * throwing ones, cleanup after close(), integer times, and the relative-time
 * helpers timer.modIn() and ctx.sleepMs().
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  AioContext,
  EventNotifier,
  MainContext,
  SCALE_MS,
  SCALE_NS,
  SCALE_US,
  clockNs,
  virtualClock,
} from 'aiocontext';
import { captureWarnings, closeFds, drain, openAttached, openContext, readAvailable, throwsAio, writeBytes } from './helpers/loop.js';
import { pipe } from 'aiocontext';

const noop = (): void => {};
const bad = <T>(value: unknown): T => value as T;

function openPipe(t: ExecutionContext): [number, number] {
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  return [r, w];
}

/** Lets the microtasks queued so far run (rejection handlers included). */
async function microtasks(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

/* ---- unknown keys ------------------------------------------------------- */

test('api: a misspelt fd handler key is a TypeError naming it, and the registered handler stays', (t) => {
  const ctx = openContext(t);
  const [r, w] = openPipe(t);
  let reads = 0;
  ctx.setFdHandler(r, { read: () => void (reads += readAvailable(r)) });
  const err = t.throws(() => ctx.setFdHandler(r, bad({ onread: noop })), { instanceOf: TypeError });
  t.regex(err?.message ?? '', /"handlers" argument has an unknown property "onread"/);
  t.is((err as NodeJS.ErrnoException).code, 'ERR_INVALID_ARG_VALUE');
  t.is(ctx.stats.handlers, 1);
  writeBytes(w, 3);
  t.true(ctx.poll(false));
  t.is(reads, 3);
});

test('api: an fd handler object must name read, write or poll; only null removes', (t) => {
  const ctx = openContext(t);
  const [r, w] = openPipe(t);
  let reads = 0;
  ctx.setFdHandler(r, { read: () => void (reads += readAvailable(r)) });
  for (const handlers of [{}, { external: true }, { read: null }, { read: undefined, write: undefined }, { pollBegin: noop }]) {
    const err = t.throws(() => ctx.setFdHandler(r, bad(handlers)), { instanceOf: TypeError });
    t.regex(err?.message ?? '', /"read" or "write" or "poll" function \(null removes the handler\)/);
  }
  t.is(ctx.stats.handlers, 1);
  writeBytes(w);
  t.true(ctx.poll(false));
  t.is(reads, 1);
  ctx.setFdHandler(r, null);
  t.is(ctx.stats.handlers, 0);
});

test('api: flush is a known fd handler key (checked to be a function)', (t) => {
  const ctx = openContext(t);
  const [r, w] = openPipe(t);
  let reads = 0;
  ctx.setFdHandler(r, { read: () => void (reads += readAvailable(r)), flush: () => false });
  t.is(ctx.stats.handlers, 1);
  writeBytes(w);
  t.true(ctx.poll(false));
  t.is(reads, 1);
  const err = t.throws(() => ctx.setFdHandler(r, bad({ read: noop, flush: 1 })), { instanceOf: TypeError });
  t.regex(err?.message ?? '', /"handlers.flush" property must be of type function/);
});

test('api: event notifier handlers: unknown keys and empty objects are TypeErrors', (t) => {
  const ctx = openContext(t);
  const n = new EventNotifier();
  t.teardown(() => n.close());
  let reads = 0;
  ctx.setEventNotifier(n, { read: (m) => void (m.testAndClear() && reads++) });
  const err = t.throws(() => ctx.setEventNotifier(n, bad({ read: noop, write: noop })), { instanceOf: TypeError });
  t.regex(err?.message ?? '', /unknown property "write"/);
  t.throws(() => ctx.setEventNotifier(n, bad({})), { instanceOf: TypeError, message: /"read" or "poll" function/ });
  t.is(ctx.stats.handlers, 1);
  n.set();
  t.true(ctx.poll(false));
  t.is(reads, 1);
  ctx.setEventNotifier(n, null);
  t.is(ctx.stats.handlers, 0);
});

test('api: unknown keys in option bags are TypeErrors naming the key, and nothing is created', (t) => {
  const cases: [string, () => unknown][] = [
    ['nmae', () => new AioContext(bad({ nmae: 'x' }))],
    ['maxNS', () => new AioContext(bad({ poll: { maxNS: 1 } }))],
  ];
  const ctx = openContext(t);
  const mc = new MainContext();
  cases.push(
    ['nam', () => ctx.bh(noop, bad({ nam: 'x' }))],
    ['externl', () => ctx.timer('realtime', SCALE_NS, noop, bad({ externl: true }))],
    ['prio', () => ctx.attach(mc, bad({ prio: 1 }))],
    ['priorty', () => ctx.attachToNodeLoop(bad({ priorty: 1 }))],
    ['grw', () => ctx.setPollParams(bad({ maxNs: 0, grw: 2 }))],
    ['sigal', () => ctx.sleep(1, bad({ sigal: null }))],
    ['sigal', () => ctx.sleepMs(1, bad({ sigal: null }))],
    ['sigal', () => ctx.nextBh(bad({ sigal: null }))],
  );
  for (const [key, fn] of cases) {
    const err = t.throws(fn, { instanceOf: TypeError }, key);
    t.true(err?.message.includes(`unknown property "${key}"`), err?.message);
  }
  t.is(ctx.stats.bhs, 0);
  t.is(ctx.stats.timers, 0);
  t.is(ctx.sourceId, null);
  t.is(ctx.nodeLoop, null);
});

/* ---- callbacks that return rejected promises ----------------------------- */

test.serial('api: an async BH that throws: poll() returns, the next poll() throws the error and runs nothing', async (t) => {
  const ctx = openContext(t);
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown): void => void unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));

  const boom = new Error('boom');
  const bh = ctx.bh(async () => {
    throw boom;
  });
  let later = 0;
  const other = ctx.bh(() => void later++);
  t.teardown(() => {
    bh.delete();
    other.delete();
  });
  bh.schedule();
  t.true(ctx.poll(false)); // the rejection is not known yet
  await microtasks();
  other.schedule();
  t.throws(() => ctx.poll(false), { is: boom });
  t.is(later, 0); // the throwing call ran nothing
  t.true(other.scheduled);
  t.true(ctx.poll(false)); // the next call runs normally
  t.is(later, 1);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(unhandled, []);
});

test.serial('api: a plain function returning a rejected promise is reported the same way', async (t) => {
  const ctx = openContext(t);
  const boom = new Error('plain');
  ctx.scheduleOneshot(() => Promise.reject(boom));
  t.true(ctx.poll(false));
  await microtasks();
  t.throws(() => ctx.poll(false), { is: boom });
  t.false(ctx.poll(false));
});

test.serial('api: several rejections become one AggregateError, oldest first', async (t) => {
  const ctx = openContext(t);
  const a = new Error('a');
  const b = new Error('b');
  const order: Error[] = [];
  for (const e of [a, b]) {
    ctx.scheduleOneshot(async () => {
      order.push(e);
      throw e;
    });
  }
  t.true(ctx.poll(false));
  t.is(order.length, 2);
  await microtasks();
  const err = t.throws<AggregateError>(() => ctx.poll(false), { instanceOf: AggregateError });
  t.deepEqual(err?.errors, order); // in the order they ran (and rejected)
  t.regex(err?.message ?? '', /2 callbacks returned rejected promises before poll\(\)/);
});

test.serial('api: under MainContext.iteration() the next iteration() throws the rejection', async (t) => {
  const { ctx, mc } = openAttached(t);
  const boom = new Error('iterated');
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_MS, async () => {
    fired++;
    throw boom;
  });
  t.teardown(() => timer.delete());
  timer.mod(0);
  t.true(mc.iteration(false));
  t.is(fired, 1);
  await microtasks();
  t.throws(() => mc.iteration(false), { is: boom });
  t.false(mc.iteration(false));
  t.is(ctx.stats.timers, 1);
});

test.serial('api: fd handlers that return rejected promises are reported too', async (t) => {
  const ctx = openContext(t);
  const [r, w] = openPipe(t);
  const boom = new Error('fd');
  ctx.setFdHandler(r, {
    read: async () => {
      readAvailable(r);
      throw boom;
    },
  });
  writeBytes(w);
  t.true(ctx.poll(false));
  await microtasks();
  t.throws(() => ctx.poll(false), { is: boom });
  ctx.setFdHandler(r, null);
});

test.serial('api: ctx.run() rejects with a rejection that comes after an await inside the callback', async (t) => {
  const ctx = openContext(t);
  const boom = new Error('after await');
  ctx.scheduleOneshot(async () => {
    await ctx.nextBh();
    throw boom;
  });
  const never = new Promise<void>(() => {});
  const wd = ctx.timer('realtime', SCALE_MS, noop);
  t.teardown(() => wd.delete());
  wd.modIn(5_000); // keeps poll(true) from blocking forever if the error is lost
  await t.throwsAsync(ctx.run(never), { is: boom });
  t.true(wd.pending);
});

test.serial('api: a resolved promise from a callback is ignored', async (t) => {
  const ctx = openContext(t);
  let ran = 0;
  ctx.scheduleOneshot(async () => {
    ran++;
  });
  t.true(ctx.poll(false));
  await microtasks();
  t.false(ctx.poll(false));
  t.is(ran, 1);
});

interface ChildResult {
  code: number | null;
  lines: string[];
  stderr: string;
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'helpers', 'rejection-child.ts');

function runChild(scenario: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', CHILD, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, lines: stdout.split('\n').filter((l) => l !== ''), stderr });
    });
  });
}

test("api: under Node's loop, a rejected promise from a callback reaches 'uncaughtException' (child process)", async (t) => {
  const res = await runChild('foreign');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['caught from async bh', 'caught from timer', 'done']);
});

test("api: a polled rejection that no later poll() takes reaches 'uncaughtException' one turn later (child process)", async (t) => {
  const res = await runChild('fallback');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['poll true', 'caught from polled bh']);
});

test('api: with no uncaughtException handler a rejected callback promise ends the process with code 1', async (t) => {
  const res = await runChild('fatal');
  t.is(res.code, 1);
  t.deepEqual(res.lines, ['exit 1']);
  t.regex(res.stderr, /Error: fatal from async bh/);
});

/* ---- cleanup after close() ------------------------------------------------ */

test('api: bh.delete() and timer.delete() after ctx.close() do nothing; other methods still throw ERR_AIO_CLOSED', async (t) => {
  const ctx = new AioContext();
  const bh = ctx.bh(noop, { name: 'closed-first' });
  const timer = ctx.timer('realtime', SCALE_MS, noop);
  timer.modIn(1000);
  const warnings = await captureWarnings(() => ctx.close()); // the BH leaks on purpose
  t.is(warnings.length, 1);
  t.notThrows(() => bh.delete());
  t.notThrows(() => bh.delete());
  t.notThrows(() => timer.delete());
  t.notThrows(() => timer.delete());
  t.true(bh.deleted);
  t.false(timer.pending);
  throwsAio(t, () => bh.schedule(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => timer.mod(0), 'ERR_AIO_CLOSED');
  throwsAio(t, () => timer.modIn(1), 'ERR_AIO_CLOSED');
});

/* ---- integer times --------------------------------------------------------- */

test('api: timer times must be integers: RangeError, and the timer stays as it was', (t) => {
  const ctx = openContext(t);
  const timer = ctx.timer('realtime', SCALE_MS, noop);
  t.teardown(() => timer.delete());
  const calls: [string, () => unknown][] = [
    ['expireTime', () => timer.mod(1.5)],
    ['expireNs', () => timer.modNs(0.5)],
    ['expireTime', () => timer.modAnticipate(2.25)],
    ['delta', () => timer.modIn(0.1)],
    ['currentTime', () => timer.expired(1.5)],
    ['expireTime', () => timer.mod(Number.NaN)],
    ['delta', () => timer.modIn(Number.POSITIVE_INFINITY)],
  ];
  for (const [name, fn] of calls) {
    const err = t.throws(fn, { instanceOf: RangeError }, name);
    t.is(err?.message.startsWith(`The "${name}" argument must be an integer.`), true, err?.message);
    t.is((err as NodeJS.ErrnoException).code, 'ERR_OUT_OF_RANGE');
  }
  t.throws(() => timer.mod(bad('1')), { instanceOf: TypeError });
  t.false(timer.pending);
  t.is(timer.expireTime, -1);
  timer.mod(-5); // negative integers are fine: already expired
  t.true(timer.pending);
});

/* ---- relative times ------------------------------------------------------- */

test.serial('api: timer.modIn(delta) arms delta units of its scale after now on its own clock', (t) => {
  const ctx = openContext(t);
  virtualClock.stop();
  t.teardown(() => virtualClock.resume());
  for (const scale of [SCALE_NS, SCALE_US, SCALE_MS, 7]) {
    const timer = ctx.timer('virtual', scale, noop);
    const now = virtualClock.now();
    timer.modIn(25);
    t.is(timer.expireTime, now + 25 * scale, `scale ${scale}`);
    timer.modIn(-1);
    t.is(timer.expireTime, now - scale, `scale ${scale}`);
    timer.delete();
  }
});

test('api: timer.modIn() on a realtime SCALE_MS timer fires no earlier than delta ms', (t) => {
  const ctx = openContext(t);
  let firedAt = 0;
  const timer = ctx.timer('realtime', SCALE_MS, () => void (firedAt = clockNs()));
  t.teardown(() => timer.delete());
  const before = clockNs();
  timer.modIn(20);
  const after = clockNs();
  t.true(timer.expireTime >= before + 20 * SCALE_MS && timer.expireTime <= after + 20 * SCALE_MS);
  while (firedAt === 0) ctx.poll(true);
  t.true(firedAt - before >= 20 * SCALE_MS, `${(firedAt - before) / SCALE_MS} ms`);
});

test('api: ctx.sleepMs(ms) resolves no earlier than ms milliseconds, from one timer', async (t) => {
  const ctx = openContext(t);
  const before = clockNs();
  const slept = ctx.sleepMs(15);
  t.is(ctx.stats.timers, 1);
  await ctx.run(slept);
  t.true(clockNs() - before >= 15 * SCALE_MS);
  t.is(ctx.stats.timers, 0);
  const half = ctx.sleepMs(0.5);
  await ctx.run(half);
  t.is(ctx.stats.timers, 0);
});

test('api: ctx.sleepMs() checks its argument and honours an AbortSignal', async (t) => {
  const ctx = openContext(t);
  t.throws(() => ctx.sleepMs(-1), { instanceOf: RangeError, message: /"ms" argument/ });
  t.throws(() => ctx.sleepMs(bad('10')), { instanceOf: TypeError, message: /"ms" argument/ });
  t.is(ctx.stats.timers, 0);
  const ac = new AbortController();
  const slept = ctx.sleepMs(60_000, { signal: ac.signal });
  t.is(ctx.stats.timers, 1);
  ac.abort(new Error('stop'));
  await t.throwsAsync(slept, { message: 'stop' });
  t.is(ctx.stats.timers, 0);
  drain(ctx);
});

test("api: the addon's own poll() rejects a non-boolean with a TypeError and runs nothing", (t) => {
  // The native class is reachable by anyone who requires the .node file: its
  // guard (one napi_get_value_bool, native/addon/guards.h) must hold alone.
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'aiocontext.node');
  const binding = createRequire(import.meta.url)(file) as {
    Context: new (name: string, fdmon: number) => NativeGuardContext;
    pollLevel: Uint32Array;
    resumePoll(level: number): boolean | (() => unknown);
  };
  const native = new binding.Context('guard', 0);
  let runs = 0;
  native.bh(() => runs++, 'guard-bh').schedule();
  for (const value of ['yes', 1, 0, undefined, null, {}]) {
    t.throws(() => native.poll(value as boolean), { instanceOf: TypeError, message: 'argument 0 must be a boolean' }, String(value));
  }
  t.is(runs, 0);
  // It hands the BH's function back (native/addon/poll-driver.h): call
  // it, then resume the pass, which ends with poll()'s result.
  const step = native.poll(false);
  t.is(typeof step, 'function');
  t.is(binding.pollLevel[0], 1);
  (step as () => unknown)();
  t.is(runs, 1);
  t.true(binding.resumePoll(1));
  t.is(binding.pollLevel[0], 0);
  t.throws(() => binding.resumePoll(1), { instanceOf: TypeError, message: 'resumePoll(): no such poll() on the stack' });
  t.false(native.poll(false));
  t.deepEqual(native.close(), ['guard-bh']);
});

test("api: the addon's fast functions take only their own class's fast handle, and run nothing otherwise", (t) => {
  // One shared function per hot method (native/addon/fast-method.h): the
  // handle is its first argument, checked by kind before it is used.
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'aiocontext.node');
  const binding = createRequire(import.meta.url)(file) as {
    Context: { new (name: string, fdmon: number): NativeGuardContext; fastPoll(h: unknown, blocking?: unknown): unknown };
    BottomHalf: { fastSchedule(h: unknown): unknown };
    MainContext: { new (isDefault: boolean): { fastHandle: unknown }; fastIteration(h: unknown, mayBlock?: unknown): unknown };
  };
  const native = new binding.Context('fast-guard', 0);
  let runs = 0;
  const bh = native.bh(() => runs++, 'fast-guard-bh');
  const main = new binding.MainContext(false);
  t.false(Object.keys(native).includes('fastHandle'), 'not enumerable');
  const kind = { instanceOf: TypeError, message: "argument 0 must be the object's fast handle" };
  t.is(typeof native.fastHandle, 'number');
  const ctxHandle = native.fastHandle as number;
  const forged = [undefined, null, 'handle', {}, native, -1, 1.5, NaN, Infinity, 2 ** 53, ctxHandle + 0.5, String(ctxHandle)];
  for (const [i, bad] of [...forged, main.fastHandle, bh.fastHandle].entries()) {
    t.throws(() => binding.Context.fastPoll(bad, false), kind, `bad handle ${i}`);
  }
  // Of the right kind but naming no live object: the next slot, the
  // same slot in a later generation.
  const gone = { instanceOf: TypeError, message: 'the native object of this handle is gone' };
  t.throws(() => binding.Context.fastPoll(ctxHandle + 1000, false), gone);
  t.throws(() => binding.Context.fastPoll(ctxHandle + 2 ** 32, false), gone);
  for (const bad of [undefined, {}, native.fastHandle, main.fastHandle]) {
    t.throws(() => binding.BottomHalf.fastSchedule(bad), kind);
  }
  for (const bad of [undefined, {}, native.fastHandle, bh.fastHandle]) {
    t.throws(() => binding.MainContext.fastIteration(bad, false), kind);
  }
  t.throws(() => binding.Context.fastPoll(native.fastHandle, 'yes'), { instanceOf: TypeError, message: 'argument 0 must be a boolean' });
  t.is(runs, 0);
  t.false(native.poll(false), 'nothing was scheduled');
  // The right handle works: the same BH and pass as the methods.
  t.is(binding.BottomHalf.fastSchedule(bh.fastHandle), undefined);
  t.is(typeof binding.Context.fastPoll(native.fastHandle, false), 'function', 'the BH is handed back');
  t.deepEqual(native.close(), ['fast-guard-bh']);
  t.is(binding.MainContext.fastIteration(main.fastHandle, false), false);
});

interface NativeGuardContext {
  readonly fastHandle: unknown;
  poll(blocking: boolean): boolean | (() => unknown);
  bh(cb: () => void, name: string): { schedule(): void; readonly fastHandle: unknown };
  close(): string[];
}
