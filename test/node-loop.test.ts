/*
 * Node's event loop drives the context: attachToNodeLoop() on an AioContext
 * or a MainContext.  Callbacks run from libuv as Node callbacks (promise
 * reactions in between), Node's own timers and I/O keep running, the
 * process lives exactly while there is armed work on a ref'd handle, an
 * idle attached loop does not wake up, and detach/close stop everything.
 * What needs a whole process (exit, uncaughtException, wake-up counts) runs
 * in a child: test/helpers/node-loop-child.ts.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  AioContext,
  AioError,
  EventNotifier,
  MainContext,
  NodeLoopHandle,
  SCALE_MS,
  SCALE_NS,
  clockNs,
  pipe,
  virtualClock,
} from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import { closeFds, getGc, nowMs, openContext, readAvailable, throwsAio, writeBytes } from './helpers/loop.js';

/* ---- helpers ------------------------------------------------------------ */

/** Rejects if @promise has not settled after @ms (Node's timers keep running meanwhile). */
async function within<T>(promise: Promise<T>, ms = 5_000, what = 'the callbacks'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not run within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise and its resolver. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** Turns of Node's loop (setImmediate), enough for any ready callback of ours to run. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Resolves once @cond() holds, checking once per turn of Node's loop. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A context attached to Node's loop, detached and closed when the test ends. */
function attached(t: ExecutionContext, fdmon?: FdMonitor): { ctx: AioContext; handle: NodeLoopHandle } {
  const ctx = openContext(t, fdmon === undefined ? undefined : { fdmon });
  const handle = ctx.attachToNodeLoop();
  t.teardown(() => handle.detach());
  return { ctx, handle };
}

function openPipe(t: ExecutionContext): [number, number] {
  const fds = pipe();
  t.teardown(() => closeFds(...fds));
  return fds;
}

const CHILD = fileURLToPath(new URL('./helpers/node-loop-child.ts', import.meta.url));

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
  ms: number;
}

/** Runs a child scenario; kills it after @killMs (a liveness bug then shows as SIGKILL). */
function runChild(scenario: string, killMs = 20_000, args: string[] = []): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, ['--import=tsx', CHILD, scenario, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const lines = stdout.split('\n').filter((l) => l !== '');
      resolve({ code, signal, lines, stderr, ms: Date.now() - start });
    });
  });
}

/* ---- callbacks run from Node's loop -------------------------------------- */

for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
  test(`node-loop: a BH, an fd handler and a timer run without poll() (fdmon ${fdmon})`, async (t) => {
    const { ctx, handle } = attached(t, fdmon);
    const [r, w] = openPipe(t);
    const ran: string[] = [];
    const all = deferred();
    const check = (what: string): void => {
      ran.push(what);
      if (ran.length === 3) all.resolve();
    };
    const bh = ctx.bh(() => check('bh'));
    t.teardown(() => {
      if (!ctx.closed) bh.delete();
    });
    ctx.setFdHandler(r, {
      read() {
        t.is(readAvailable(r), 1);
        ctx.setFdHandler(r, null);
        check('read');
      },
    });
    const timer = ctx.timer('realtime', SCALE_MS, () => check('timer'));
    bh.schedule();
    writeBytes(w);
    timer.mod(nowMs() + 30);
    await within(all.promise);
    t.deepEqual(ran.slice().sort(), ['bh', 'read', 'timer']);
    t.is(ran[2], 'timer'); // 30 ms later than the others
    await turns(1); // stats count a dispatch once it is over
    // One dispatch, or two if the loop was free when the timer came due.
    t.true(handle.stats.dispatches >= 1);
    t.true(handle.stats.wakeups >= handle.stats.dispatches);
    timer.delete();
  });
}

test('node-loop: promise reactions of each callback run before the next callback', async (t) => {
  const { ctx } = attached(t);
  const [r, w] = openPipe(t);
  const order: string[] = [];
  const done = deferred();
  // Each callback resolves a promise and queues a nextTick; both must run
  // before the next callback of the same dispatch.
  const step = (name: string): void => {
    order.push(name);
    void Promise.resolve().then(() => order.push(`${name}:then`));
    process.nextTick(() => order.push(`${name}:tick`));
  };
  const bh1 = ctx.bh(() => step('bh1'));
  const bh2 = ctx.bh(() => step('bh2'));
  ctx.setFdHandler(r, {
    read() {
      readAvailable(r);
      ctx.setFdHandler(r, null);
      step('read');
    },
  });
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    step('timer');
    setImmediate(done.resolve);
  });
  // All four are due in the same GLib dispatch: BHs, then fds, then timers.
  bh2.schedule();
  bh1.schedule();
  writeBytes(w);
  timer.mod(0);
  await within(done.promise);
  t.deepEqual(order, [
    'bh1',
    'bh1:tick',
    'bh1:then',
    'bh2',
    'bh2:tick',
    'bh2:then',
    'read',
    'read:tick',
    'read:then',
    'timer',
    'timer:tick',
    'timer:then',
  ]);
  bh1.delete();
  bh2.delete();
  timer.delete();
});

test('node-loop: callbacks run in their driver\'s async context; AsyncResource.bind carries a store from registration', async (t) => {
  const als = new AsyncLocalStorage<string>();
  const ctx = openContext(t);
  const seen: Record<string, string | undefined> = {};
  let bound!: ReturnType<AioContext['bh']>;
  let plain!: ReturnType<AioContext['bh']>;
  als.run('registered', () => {
    plain = ctx.bh(() => {
      seen.plain = als.getStore();
    });
    bound = ctx.bh(
      AsyncResource.bind(() => {
        seen.bound = als.getStore();
      }),
    );
  });
  t.teardown(() => {
    plain.delete();
    bound.delete();
  });

  // Driven by poll(): the caller's context, as a synchronous emit.
  plain.schedule();
  bound.schedule();
  als.run('driver', () => ctx.poll(false));
  t.deepEqual(seen, { plain: 'driver', bound: 'registered' });

  // Driven by Node's loop: the root context, as a Node event source.
  ctx.attachToNodeLoop();
  t.teardown(() => ctx.detach());
  const settled = als.run('awaiting', async () => {
    await ctx.nextBh();
    return als.getStore();
  });
  plain.schedule();
  bound.schedule();
  t.is(await settled, 'awaiting', 'an awaitable keeps the store of the code that awaits it');
  t.deepEqual(seen, { plain: undefined, bound: 'registered' });
});

test('node-loop: an async function awaiting between callbacks interleaves with them', async (t) => {
  const { ctx } = attached(t);
  const order: string[] = [];
  let wake: (() => void) | null = null;
  const bh = ctx.bh(() => {
    order.push('bh');
    wake?.();
  });
  const worker = (async () => {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        bh.schedule();
      });
      order.push(`after ${i}`);
    }
  })();
  await within(worker);
  t.deepEqual(order, ['bh', 'after 0', 'bh', 'after 1', 'bh', 'after 2']);
  bh.delete();
});

test("node-loop: Node's setTimeout and fs keep running while an fd handler stays ready", async (t) => {
  const { ctx, handle } = attached(t);
  const [r, w] = openPipe(t);
  let reads = 0;
  // Never drains the pipe: the fd stays ready and the handler runs on every
  // loop iteration.
  ctx.setFdHandler(r, {
    read() {
      reads++;
    },
  });
  writeBytes(w);
  await within(until(() => reads > 0), 5_000, 'the busy handler');
  const readsBefore = reads;
  const start = Date.now();
  await within(new Promise((resolve) => setTimeout(resolve, 30)), 5_000, 'setTimeout');
  const readsAtTimeout = reads;
  const text = await within(fs.promises.readFile(CHILD, 'utf8'), 5_000, 'fs.promises.readFile');
  const readsAtRead = reads;
  ctx.setFdHandler(r, null);
  t.true(Date.now() - start >= 29);
  // The handler kept running all along, once per loop iteration: the file
  // read alone takes several (one per thread-pool round trip).  (How many
  // ran before the timeout depends on the load: a blocked thread can make
  // the timer due in the iteration that armed it.)
  t.true(readsAtRead > readsAtTimeout, `${readsAtRead} > ${readsAtTimeout}`);
  t.true(readsAtRead > readsBefore + 1);
  t.true(handle.stats.dispatches >= readsAtRead);
  t.true(text.includes('node-loop-child'));
});

/* ---- liveness and wake-ups ---------------------------------------------- */

test('node-loop: keepingAlive follows armed work, ref() and unref()', async (t) => {
  const { ctx, handle } = attached(t);
  const [r] = openPipe(t);
  t.true(handle.hasRef());
  t.false(handle.stats.keepingAlive); // nothing armed

  const bh = ctx.bh(() => {});
  bh.schedule();
  t.true(handle.stats.keepingAlive); // decided at schedule(), not later
  await turns();
  t.false(bh.scheduled);
  t.false(handle.stats.keepingAlive); // re-decided after the dispatch

  const timer = ctx.timer('realtime', SCALE_MS, () => {});
  timer.mod(nowMs() + 60_000);
  t.true(handle.stats.keepingAlive);
  handle.unref();
  t.false(handle.hasRef());
  t.false(handle.stats.keepingAlive);
  handle.ref();
  t.true(handle.stats.keepingAlive);
  timer.del();
  await turns();
  t.false(handle.stats.keepingAlive);

  ctx.setFdHandler(r, { read: () => {} });
  t.true(handle.stats.keepingAlive); // an fd handler, like a socket
  ctx.setFdHandler(r, null);
  await turns();
  t.false(handle.stats.keepingAlive);

  ctx.scheduleOneshot(() => {});
  t.true(handle.stats.keepingAlive);
  await turns();
  t.false(handle.stats.keepingAlive);
  timer.delete();
  bh.delete();
});

test.serial('node-loop: the native context re-decides liveness at once when work is armed or removed', (t) => {
  const { ctx, handle } = attached(t);
  const [r] = openPipe(t);
  const n = new EventNotifier();
  t.teardown(() => n.close());
  t.false(handle.stats.keepingAlive);
  // No loop turn in this test: every answer is decided by the call itself.
  const bh = ctx.bh(() => {});
  bh.schedule();
  t.true(handle.stats.keepingAlive);
  bh.cancel();
  t.false(handle.stats.keepingAlive);
  bh.schedule();
  bh.delete();
  t.false(handle.stats.keepingAlive);

  const timer = ctx.timer('realtime', SCALE_MS, () => {});
  timer.modIn(60_000);
  t.true(handle.stats.keepingAlive);
  timer.del();
  t.false(handle.stats.keepingAlive);
  timer.modNs(clockNs() + 60e9);
  t.true(handle.stats.keepingAlive);
  timer.delete();
  t.false(handle.stats.keepingAlive);

  ctx.setEventNotifier(n, { read: () => {} });
  t.true(handle.stats.keepingAlive);
  ctx.setEventNotifier(n, null);
  t.false(handle.stats.keepingAlive);
  ctx.setFdHandler(r, { read: () => {} });
  t.true(handle.stats.keepingAlive);
  ctx.setFdHandler(r, null);
  t.false(handle.stats.keepingAlive);

  // An armed timer on a stopped virtual clock is armed work too.
  virtualClock.stop();
  t.teardown(() => virtualClock.resume());
  const vt = ctx.timer('virtual', SCALE_NS, () => {});
  vt.modIn(1);
  t.true(handle.stats.keepingAlive);
  t.is(ctx.computeTimeout(), -1);
  vt.delete();
  t.false(handle.stats.keepingAlive);
});

test('node-loop: removing a handler stops watching its fd at once', async (t) => {
  const { ctx, handle } = attached(t, 'poll');
  const [r] = openPipe(t);
  await turns();
  const base = handle.stats.fds;
  ctx.setFdHandler(r, { read: () => {} });
  await turns();
  t.is(handle.stats.fds, base + 1);
  ctx.setFdHandler(r, null);
  t.is(handle.stats.fds, base); // no loop turn needed
});

test('node-loop: stats.fds counts one uv_poll per distinct fd', async (t) => {
  const { ctx, handle } = attached(t, 'poll');
  const [r, w] = openPipe(t);
  await turns();
  const base = handle.stats.fds; // GLib's wake-up fd and the context's notifier
  t.true(base >= 1);
  ctx.setFdHandler(r, { read: () => {} });
  await turns();
  t.is(handle.stats.fds, base + 1);
  ctx.setFdHandler(w, { write: () => ctx.setFdHandler(w, null) });
  await turns();
  t.is(handle.stats.fds, base + 1); // w's one-shot write handler came and went
  ctx.setFdHandler(r, null);
  await turns();
  t.is(handle.stats.fds, base);
});

test.serial('node-loop: an idle attached loop does not wake up (child process)', async (t) => {
  const res = await runChild('idle');
  t.is(res.code, 0, res.stderr);
  t.is(res.lines.length, 2, res.lines.join('\n'));
  const [empty, armed] = res.lines;
  const emptyWakeups = Number(/^idle-empty (\d+) \[[\d,]+\]$/.exec(empty ?? '')?.[1]);
  const m = /^idle-armed (\d+) \[[\d,]+\] fds (\d+)$/.exec(armed ?? '');
  const armedWakeups = Number(m?.[1]);
  // The only wake-up allowed is the one that ends the test's own setTimeout.
  t.log(`wake-ups in 1 s: ${empty} (nothing armed); ${armed} (an idle fd and a timer 1 h away)`);
  t.true(emptyWakeups <= 2, empty);
  t.true(armedWakeups <= 2, armed);
  t.true(Number(m?.[2]) >= 2, armed); // the idle pipe was watched all along
});

test.serial('node-loop: an unref\'d handle lets the process exit despite an armed timer', async (t) => {
  const res = await runChild('exit-unref');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['keepingAlive false', 'exit']);
});

test.serial('node-loop: a ref\'d handle with nothing armed lets the process exit', async (t) => {
  const res = await runChild('exit-idle');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['keepingAlive false', 'exit']);
});

test.serial('node-loop: a ref\'d handle with an armed timer keeps the process alive until it fires', async (t) => {
  const res = await runChild('ref-timer');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['keepingAlive true', 'timer fired after >=300 ms', 'exit']);
});

test.serial('node-loop: a BH scheduled from a setTimeout callback still runs', async (t) => {
  const res = await runChild('bh-from-timeout');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['bh ran', 'exit']);
});

test.serial('node-loop: a MainContext handle keeps the process alive while ref\'d (child process)', async (t) => {
  const [ref, unref] = await Promise.all([runChild('main-ref'), runChild('main-unref')]);
  t.is(ref.code, 0, ref.stderr);
  t.deepEqual(ref.lines, ['keepingAlive true', 'timer ran', 'exit']);
  t.is(unref.code, 0, unref.stderr);
  t.deepEqual(unref.lines, ['keepingAlive false', 'exit']);
});

test.serial('node-loop: the process exits cleanly while still attached', async (t) => {
  const res = await runChild('exit-attached');
  t.is(res.code, 0, res.stderr);
  t.is(res.signal, null);
  t.deepEqual(res.lines, ['done']);
  t.is(res.stderr, '');
});

/* ---- errors --------------------------------------------------------------- */

test.serial('node-loop: an epoll context falling back to poll keeps its epoll fd number until libuv lets go (child process)', async (t) => {
  const res = await runChild('epoll-fallback-fd-reuse');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['fdmon poll epoll fds 1', 'data hello']);
});

for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
  test.serial(`node-loop: closing a context attached to a driven MainContext lets libuv go of its fds at once (fdmon ${fdmon}, child process)`, async (t) => {
    const res = await runChild('close-attached-fd-reuse', 20_000, [fdmon]);
    t.is(res.code, 0, res.stderr);
    t.is(res.lines.length, 1, res.lines.join("\n"));
    t.regex(res.lines[0] ?? '', /^data on [1-3] sockets$/);
  });
}

test.serial("node-loop: callbacks' throws reach process 'uncaughtException' (child process)", async (t) => {
  const res = await runChild('uncaught');
  t.is(res.code, 0, res.stderr);
  t.deepEqual(res.lines, ['caught from bh', 'caught from fd', 'caught from timer', 'loop still runs']);
});

test.serial('node-loop: with no uncaughtException handler a throw ends the process with code 1', async (t) => {
  const res = await runChild('uncaught-fatal');
  t.is(res.code, 1);
  t.deepEqual(res.lines, ['exit 1']);
  t.regex(res.stderr, /Error: fatal from bh/);
});

/* ---- MainContext ------------------------------------------------------------ */

test('node-loop: mainContext.attachToNodeLoop() runs the sources of that MainContext', async (t) => {
  const mc = new MainContext();
  const a = openContext(t);
  const b = openContext(t);
  a.attach(mc);
  b.attach(mc);
  const handle = mc.attachToNodeLoop();
  t.teardown(() => handle.detach());
  handle.unref(); // a MainContext handle keeps the process alive while ref'd
  t.false(handle.stats.keepingAlive);
  handle.ref();
  t.true(handle.stats.keepingAlive);
  handle.unref();

  const ran: string[] = [];
  const done = deferred();
  a.scheduleOneshot(() => ran.push('a'));
  b.scheduleOneshot(() => {
    ran.push('b');
    done.resolve();
  });
  await within(done.promise);
  t.deepEqual(ran.slice().sort(), ['a', 'b']);
  throwsAio(t, () => mc.attachToNodeLoop(), 'ERR_AIO_ATTACHED');
  handle.detach();
  t.false(handle.attached);
  const again = mc.attachToNodeLoop(); // works again after detach
  t.teardown(() => again.detach());
  again.unref();
  const more = deferred();
  a.scheduleOneshot(() => more.resolve());
  await within(more.promise);
  t.pass();
});

test('node-loop: the default MainContext can be driven too', async (t) => {
  const ctx = openContext(t);
  ctx.attach(MainContext.default());
  const handle = MainContext.default().attachToNodeLoop();
  t.teardown(() => handle.detach());
  handle.unref();
  const done = deferred();
  ctx.scheduleOneshot(() => done.resolve());
  await within(done.promise);
  await turns(1); // stats count a dispatch once it is over
  t.true(handle.stats.dispatches >= 1);
});

/* ---- detach, close, attach rules ------------------------------------------ */

test('node-loop: detach() stops everything; the context can be polled or attached again', async (t) => {
  const { ctx, handle } = attached(t);
  const [r, w] = openPipe(t);
  let bhRuns = 0;
  let reads = 0;
  let timerRuns = 0;
  const bh = ctx.bh(() => bhRuns++);
  ctx.setFdHandler(r, { read: () => reads++ });
  const timer = ctx.timer('realtime', SCALE_MS, () => timerRuns++);
  await turns();
  t.true(handle.attached);
  t.not(ctx.sourceId, null);
  t.is(ctx.nodeLoop, handle);

  handle.detach();
  t.false(handle.attached);
  t.is(ctx.sourceId, null);
  t.is(ctx.nodeLoop, null);
  const frozen = handle.stats;
  t.false(frozen.keepingAlive);
  t.is(frozen.fds, 0);
  handle.detach(); // idempotent
  handle.ref(); // no-ops once detached
  handle.unref();

  bh.schedule();
  writeBytes(w);
  timer.mod(nowMs());
  await new Promise((resolve) => setTimeout(resolve, 30));
  t.deepEqual([bhRuns, reads, timerRuns], [0, 0, 0]);
  t.is(handle.stats.wakeups, frozen.wakeups);

  // Everything was still pending: a poll() runs it.
  t.true(ctx.poll(false));
  t.deepEqual([bhRuns, reads, timerRuns], [1, 1, 1]);
  ctx.setFdHandler(r, null);
  readAvailable(r);

  // attach() and attachToNodeLoop() work again.
  const mc = new MainContext();
  ctx.attach(mc);
  ctx.detach();
  const again = ctx.attachToNodeLoop();
  t.teardown(() => again.detach());
  bh.schedule();
  await turns();
  t.is(bhRuns, 2);
  ctx.detach(); // detaches the Node loop handle too
  t.false(again.attached);
  bh.delete();
  timer.delete();
});

test('node-loop: close() detaches first', async (t) => {
  const ctx = new AioContext();
  const handle = ctx.attachToNodeLoop();
  const bh = ctx.bh(() => {});
  bh.schedule();
  bh.delete();
  ctx.close();
  t.false(handle.attached);
  t.false(handle.stats.keepingAlive);
  await turns();
  handle.detach();
  t.true(ctx.closed);
});

test('node-loop: detach() and close() from inside a callback the loop runs', async (t) => {
  const a = new AioContext();
  const ha = a.attachToNodeLoop();
  const b = new AioContext();
  const hb = b.attachToNodeLoop();
  const done = deferred();
  let aRuns = 0;
  const bhA = a.bh(() => {
    aRuns++;
    ha.detach(); // from inside the GLib dispatch the bridge is running
    bhA.schedule(); // not run again from Node's loop
  });
  bhA.schedule();
  b.scheduleOneshot(() => {
    b.close(); // close from inside its own callback
    setImmediate(done.resolve);
  });
  await within(done.promise);
  await turns();
  t.is(aRuns, 1);
  t.false(ha.attached);
  t.false(hb.attached);
  t.true(b.closed);
  t.true(bhA.scheduled);
  bhA.delete();
  a.close();
});

test('node-loop: attach rules: ERR_AIO_ATTACHED both ways, ERR_AIO_CLOSED, option checks', (t) => {
  const ctx = openContext(t);
  const handle = ctx.attachToNodeLoop();
  throwsAio(t, () => ctx.attachToNodeLoop(), 'ERR_AIO_ATTACHED');
  throwsAio(t, () => ctx.attach(new MainContext()), 'ERR_AIO_ATTACHED');
  handle.detach();
  const mc = new MainContext();
  ctx.attach(mc);
  throwsAio(t, () => ctx.attachToNodeLoop(), 'ERR_AIO_ATTACHED');
  ctx.detach();

  t.throws(() => ctx.attachToNodeLoop({ priority: 1.5 }), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => ctx.attachToNodeLoop({ priority: 'high' as unknown as number }), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG_TYPE',
  });
  t.throws(() => ctx.attachToNodeLoop(5 as unknown as object), { instanceOf: TypeError });
  t.is(ctx.sourceId, null); // the failed calls attached nothing
  const withPriority = ctx.attachToNodeLoop({ priority: -100 });
  t.true(withPriority.attached);
  withPriority.detach();

  ctx.close();
  throwsAio(t, () => ctx.attachToNodeLoop(), 'ERR_AIO_CLOSED');
  t.throws(() => new (NodeLoopHandle as unknown as new () => unknown)(), { instanceOf: TypeError });
  t.true(handle instanceof NodeLoopHandle);
  t.true(AioError !== undefined);
});

test('node-loop: an attached context keeps running after JS dropped every reference to it', async (t) => {
  const gc = getGc();
  if (gc === undefined) {
    t.pass('needs --expose-gc');
    return;
  }
  const fired = deferred<string>();
  (() => {
    const ctx = new AioContext({ name: 'dropped' });
    ctx.attachToNodeLoop();
    const timer = ctx.timer('realtime', SCALE_MS, () => {
      timer.delete();
      fired.resolve(ctx.name);
      ctx.close();
    });
    timer.mod(nowMs() + 50);
  })();
  gc();
  await new Promise((resolve) => setTimeout(resolve, 10));
  gc();
  t.is(await within(fired.promise), 'dropped');
});

test.serial('node-loop: worker threads attach too, and their loops close cleanly (child process)', async (t) => {
  const res = await runChild('worker');
  t.is(res.code, 0, res.stderr);
  t.is(res.signal, null, res.stderr);
  t.deepEqual(res.lines, ['ends: ran true, exit 0', 'terminated: ran true, exit 1']);
});
