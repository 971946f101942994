/*
 * Threads (SEMANTICS.md §6, API.md "Threads"): share tokens, remote
 * wake-ups from workers, native threads and the home thread itself, I/O
 * threads handing work to each other, the context lock across threads, and
 * what remote calls do once the object is gone.
 *
 * Worker scripts are plain .mjs in test/workers/ (tsx does not reach worker
 * threads on Node 20) and import the built package.  The main thread often
 * blocks in poll(true) while workers run: a watchdog timer bounds every such
 * wait (helpers/loop.ts pollUntil), so a lost wake-up fails instead of
 * hanging.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  AioContext,
  AioError,
  MainContext,
  RemoteBottomHalf,
  RemoteContext,
  remoteBottomHalf,
  remoteContext,
} from 'aiocontext';
import type { SharedToken } from 'aiocontext';
import { captureWarnings, drain, openContext, pollUntil, sleepMs, throwsAio } from './helpers/loop.js';
import { scheduleFromNativeThread } from './helpers/testing.js';

/* ---- workers ---------------------------------------------------------------- */

interface Spawned {
  worker: Worker;
  /** The next message from the worker (rejects if the worker fails first). */
  next<T = Record<string, unknown>>(): Promise<T>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
}

function spawn(t: ExecutionContext, script: string, workerData: unknown, transferList: readonly MessagePort[] = []): Spawned {
  const worker = new Worker(new URL(`./workers/${script}`, import.meta.url), {
    workerData,
    transferList: [...transferList],
  });
  const queue: unknown[] = [];
  const waiting: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  worker.on('message', (m: unknown) => {
    const w = waiting.shift();
    if (w) w.resolve(m);
    else queue.push(m);
  });
  worker.on('error', (err) => {
    failure = err;
    for (const w of waiting.splice(0)) w.reject(err);
  });
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve));
  t.teardown(async () => {
    await worker.terminate();
  });
  return {
    worker,
    exited,
    next<T>() {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T);
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => waiting.push({ resolve: resolve as (v: unknown) => void, reject }));
    },
  };
}

/** Blocks until Atomics.load(a, i) === value (bounded). */
function waitFor(a: Int32Array, i: number, value: number, timeoutMs = 10_000): void {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = Atomics.load(a, i);
    if (v === value) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`waitFor: [${i}] is ${v}, expected ${value}`);
    Atomics.wait(a, i, v, left);
  }
}

function signal(a: Int32Array, i: number, value: number): void {
  Atomics.store(a, i, value);
  Atomics.notify(a, i);
}

interface ErrorInfo {
  name: string;
  code: string;
  message: string;
  isAioError: boolean;
}

/* ---- tokens ----------------------------------------------------------------- */

test('threads: share() returns a plain, stable token that survives JSON and structuredClone', (t) => {
  const ctx = openContext(t);
  const bh = ctx.bh(() => {});
  const ct = ctx.share();
  const bt = bh.share();

  t.is(ct.kind, 'aio-context');
  t.is(bt.kind, 'aio-bh');
  t.true(Number.isSafeInteger(ct.id) && ct.id > 0);
  t.true(Number.isSafeInteger(bt.id) && bt.id > 0);
  t.not(ct.id, bt.id);
  t.deepEqual(Object.keys(ct).sort(), ['id', 'kind']);
  t.deepEqual(ctx.share(), ct, 'the same token every time');
  t.deepEqual(bh.share(), bt);
  t.deepEqual(JSON.parse(JSON.stringify(ct)), ct);
  t.deepEqual(JSON.parse(JSON.stringify(bt)), bt);
  t.deepEqual(structuredClone(bt), bt);
  bh.delete();
});

test('threads: a token round-tripped through JSON drives the object', (t) => {
  const ctx = openContext(t);
  let calls = 0;
  const bh = ctx.bh(() => calls++);
  const token = JSON.parse(JSON.stringify(bh.share())) as SharedToken;
  remoteBottomHalf(token).schedule();
  t.true(bh.scheduled);
  t.true(ctx.poll(false));
  t.is(calls, 1);
  bh.delete();
});

test('threads: a token of the wrong kind is a TypeError', (t) => {
  const ctx = openContext(t);
  const bh = ctx.bh(() => {});
  t.throws(() => remoteContext(bh.share()), { instanceOf: TypeError, message: /"t\.kind" property must be 'aio-context'/ });
  t.throws(() => remoteBottomHalf(ctx.share()), { instanceOf: TypeError, message: /"t\.kind" property must be 'aio-bh'/ });
  // A forged token: the right kind, but the id of the other kind of object.
  t.throws(() => remoteBottomHalf({ kind: 'aio-bh', id: ctx.share().id }), { instanceOf: TypeError });
  t.throws(() => remoteContext({ kind: 'aio-context', id: bh.share().id }), { instanceOf: TypeError });
  bh.delete();
});

test('threads: malformed tokens are TypeErrors', (t) => {
  const bad: unknown[] = [undefined, null, 1, 'aio-bh', {}, { kind: 'aio-bh' }, { kind: 'aio-bh', id: 0 }, { kind: 'aio-bh', id: -1 }, { kind: 'aio-bh', id: 1.5 }, { kind: 'aio-bh', id: '1' }, { kind: 'bh', id: 1 }];
  for (const token of bad) {
    t.throws(() => remoteBottomHalf(token as SharedToken), { instanceOf: TypeError }, JSON.stringify(token) ?? String(token));
  }
});

test('threads: an id that was never shared is ERR_AIO_CLOSED', (t) => {
  throwsAio(t, () => remoteBottomHalf({ kind: 'aio-bh', id: 2 ** 52 }), 'ERR_AIO_CLOSED');
  throwsAio(t, () => remoteContext({ kind: 'aio-context', id: 2 ** 52 }), 'ERR_AIO_CLOSED');
});

test('threads: share() is refused after delete() and close()', (t) => {
  const ctx = new AioContext();
  const bh = ctx.bh(() => {});
  bh.delete();
  throwsAio(t, () => bh.share(), 'ERR_AIO_DELETED');
  ctx.close();
  throwsAio(t, () => ctx.share(), 'ERR_AIO_CLOSED');
});

/* ---- the home thread itself ------------------------------------------------- */

test('threads: remote handles work on the home thread too', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  let calls = 0;
  const bh = ctx.bh(() => calls++);
  const remote = remoteBottomHalf(bh.share());
  t.true(remote instanceof RemoteBottomHalf);
  t.deepEqual(remote.token, bh.share());

  remote.schedule();
  remote.schedule();
  t.true(bh.scheduled);
  remote.cancel();
  t.false(bh.scheduled);
  remote.schedule();
  t.true(ctx.poll(false));
  t.is(calls, 1, 'two schedules merged into one run');

  // notify() before a blocking poll makes that poll return at once, without progress.
  const rc = remoteContext(ctx.share());
  t.true(rc instanceof RemoteContext);
  rc.notify();
  t.true(ctx.stats.notified);
  t.false(ctx.poll(true));
  t.false(ctx.stats.notified);
  bh.delete();
});

test('threads: remote calls after delete() or close() throw ERR_AIO_CLOSED (home thread)', async (t) => {
  const ctx = new AioContext({ name: 'gone' });
  let calls = 0;
  const a = ctx.bh(() => calls++, { name: 'a' });
  const b = ctx.bh(() => calls++, { name: 'b' });
  const ra = remoteBottomHalf(a.share());
  const rb = remoteBottomHalf(b.share());
  const rc = remoteContext(ctx.share());
  const tokenA = a.share();

  ra.schedule();
  a.delete();
  throwsAio(t, () => ra.schedule(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => ra.cancel(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => remoteBottomHalf(tokenA), 'ERR_AIO_CLOSED');
  rb.schedule();
  t.true(ctx.poll(false));
  t.is(calls, 1, 'b ran; a was deleted with a pending schedule and never ran');

  // b is never deleted: close() deletes it (with a leak warning), and its token dies with it.
  const warnings = (await captureWarnings(() => ctx.close())).filter((w) => w.message.includes("'gone'"));
  t.is(warnings.length, 1);
  t.regex(warnings[0]?.message ?? '', /never deleted: 'b'/);
  const err = throwsAio(t, () => rb.schedule(), 'ERR_AIO_CLOSED');
  t.regex(err?.message ?? '', /BottomHalf 'b'/);
  throwsAio(t, () => rc.notify(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => rc.acquire(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => remoteContext(rc.token), 'ERR_AIO_CLOSED');
});

/* ---- workers ---------------------------------------------------------------- */

test('threads: 1,000 strict ping-pong rounds, exactly 1,000 callbacks on each side', async (t) => {
  const rounds = 1000;
  const ctx = openContext(t, { name: 'ping-pong-main' });
  let mainCalls = 0;
  let worker: RemoteBottomHalf | undefined;
  const bh = ctx.bh(
    () => {
      mainCalls++;
      worker?.schedule();
    },
    { name: 'ping' },
  );
  const w = spawn(t, 'ping-pong.mjs', { mainBh: bh.share(), rounds });
  const { token } = await w.next<{ token: SharedToken }>();
  worker = remoteBottomHalf(token);

  // Blocks in poll(true); each wake-up comes from the worker's schedule().
  pollUntil(ctx, () => mainCalls >= rounds, 30_000);
  const result = await w.next<{ calls: number; polls: number; idle: number; extra: boolean }>();

  t.is(mainCalls, rounds);
  t.is(result.calls, rounds);
  t.false(result.extra, 'nothing left on the worker side');
  t.false(ctx.poll(false), 'nothing left on the main side');
  t.is(mainCalls, rounds);
  t.is(await w.exited, 0);
  bh.delete();
});

test('threads: four workers hammering one BH: it coalesces and is never lost', async (t) => {
  const workers = 4;
  const schedules = 20_000;
  const ctx = openContext(t, { name: 'hammered' });
  let calls = 0;
  const bh = ctx.bh(() => calls++, { name: 'hammered' });
  const done = new SharedArrayBuffer(4);
  const doneCount = new Int32Array(done);
  const spawned = Array.from({ length: workers }, () => spawn(t, 'hammer.mjs', { bh: bh.share(), schedules, done }));

  // Each worker's last act is a schedule after it counted itself done, so
  // this wait ends without a timeout only if no wake-up was lost.
  pollUntil(ctx, () => Atomics.load(doneCount, 0) === workers, 30_000);
  const results = await Promise.all(spawned.map((s) => s.next<{ scheduled: number }>()));
  const total = results.reduce((sum, r) => sum + r.scheduled, 0);
  ctx.poll(false); // one more cycle runs it if still pending

  t.is(total, workers * (schedules + 1));
  t.true(calls >= 1, `calls = ${calls}`);
  t.true(calls <= total, `calls = ${calls}, schedules = ${total}`);
  t.false(bh.scheduled);
  t.false(ctx.poll(false));
  t.log(`${total} schedules from ${workers} workers ran the callback ${calls} times`);
  for (const s of spawned) t.is(await s.exited, 0);
  bh.delete();
});

test('threads: five I/O threads hand work to each other for 1 s; every hand-off is accounted for', async (t) => {
  const count = 5;
  const shared = new SharedArrayBuffer(8);
  const flags = new Int32Array(shared);
  // One MessageChannel per ordered pair: port1 sends (from), port2 receives (to).
  const channels = Array.from({ length: count }, (_, from) =>
    Array.from({ length: count }, (_, to) => (from === to ? null : new MessageChannel())),
  );
  const spawned = Array.from({ length: count }, (_, index) => {
    const outPorts = channels[index]!.map((c) => c?.port1 ?? null);
    const inPorts = channels.map((row) => row[index]?.port2 ?? null);
    const transfer = [...outPorts, ...inPorts].filter((p): p is MessagePort => p !== null);
    return spawn(t, 'iothread.mjs', { index, count, initial: 4, inPorts, outPorts, shared }, transfer);
  });
  const peers = await Promise.all(spawned.map((s) => s.next<{ ctx: SharedToken; inbox: SharedToken }>()));
  for (const s of spawned) s.worker.postMessage({ peers });

  await new Promise((resolve) => setTimeout(resolve, 1000));
  Atomics.store(flags, 0, 1); // stop
  for (const p of peers) {
    try {
      remoteContext(p.ctx).notify();
    } catch (err) {
      if (!(err instanceof AioError && err.code === 'ERR_AIO_CLOSED')) throw err;
    }
  }
  const results = await Promise.all(spawned.map((s) => s.next<{ sent: number[]; received: number[]; polls: number; idle: number }>()));

  let total = 0;
  for (let from = 0; from < count; from++) {
    for (let to = 0; to < count; to++) {
      if (from === to) continue;
      t.is(results[from]!.sent[to], results[to]!.received[from], `hand-offs ${from} -> ${to}`);
      total += results[from]!.sent[to]!;
    }
  }
  t.is(Atomics.load(flags, 1), 0, 'nothing in flight');
  t.true(total > 1000, `only ${total} hand-offs in 1 s`);
  t.log(`${total} hand-offs between ${count} I/O threads in 1 s`);
  for (const s of spawned) t.is(await s.exited, 0);
});

test('threads: a worker blocked in poll(true) is woken by notify() (false) and by a remote BH (true)', async (t) => {
  const state = new Int32Array(new SharedArrayBuffer(4));
  const w = spawn(t, 'blocked-poll.mjs', { state: state.buffer });
  const tokens = await w.next<{ ctx: SharedToken; bh: SharedToken }>();
  const ctx = remoteContext(tokens.ctx);
  const bh = remoteBottomHalf(tokens.bh);

  waitFor(state, 0, 1);
  sleepMs(100); // it is blocked by now (it measures how long)
  ctx.notify();
  waitFor(state, 0, 3);
  sleepMs(100);
  bh.schedule();

  const r = await w.next<{ first: { result: boolean; ms: number }; second: { result: boolean; ms: number }; ranAfterFirst: number; ran: number; watchdog: boolean }>();
  t.false(r.watchdog, 'woken by us, not by the watchdog');
  t.false(r.first.result, 'a notify alone is not progress');
  t.is(r.ranAfterFirst, 0);
  t.true(r.first.ms >= 50, `first poll returned after ${r.first.ms} ms`);
  t.true(r.second.result, 'the remote BH ran');
  t.is(r.ran, 1);
  t.true(r.second.ms >= 50, `second poll returned after ${r.second.ms} ms`);
  t.is(await w.exited, 0);
  throwsAio(t, () => ctx.notify(), 'ERR_AIO_CLOSED', 'the worker closed its context');
  throwsAio(t, () => bh.schedule(), 'ERR_AIO_CLOSED');
});

test('threads: remote calls after delete() or close() throw ERR_AIO_CLOSED in a worker', async (t) => {
  const ctx = new AioContext({ name: 'main-gone' });
  t.teardown(() => ctx.close());
  const bh = ctx.bh(() => {}, { name: 'doomed' });
  const w = spawn(t, 'rpc.mjs', null);
  let id = 0;
  const call = async (req: Record<string, unknown>): Promise<{ ok?: true; error?: ErrorInfo }> => {
    const reqId = ++id;
    w.worker.postMessage({ ...req, id: reqId });
    const reply = await w.next<{ id: number; ok?: true; error?: ErrorInfo }>();
    t.is(reply.id, reqId);
    return reply;
  };

  t.deepEqual(await call({ op: 'bh', token: bh.share(), key: 'bh' }), { id, ok: true });
  t.deepEqual(await call({ op: 'context', token: ctx.share(), key: 'ctx' }), { id, ok: true });
  t.deepEqual(await call({ op: 'schedule', key: 'bh' }), { id, ok: true });
  t.true(bh.scheduled, 'scheduled from the worker');
  const bhToken = bh.share();

  bh.delete();
  for (const reply of [await call({ op: 'schedule', key: 'bh' }), await call({ op: 'cancel', key: 'bh' }), await call({ op: 'scheduleToken', token: bhToken })]) {
    t.is(reply.error?.code, 'ERR_AIO_CLOSED');
    t.true(reply.error?.isAioError);
  }
  t.deepEqual(await call({ op: 'notify', key: 'ctx' }), { id, ok: true });

  const ctxToken = ctx.share();
  ctx.close();
  for (const reply of [await call({ op: 'notify', key: 'ctx' }), await call({ op: 'notifyToken', token: ctxToken })]) {
    t.is(reply.error?.code, 'ERR_AIO_CLOSED');
  }
  // A token of the wrong kind is a TypeError there too.
  const wrong = await call({ op: 'scheduleToken', token: ctxToken });
  t.is(wrong.error?.name, 'TypeError');
  w.worker.postMessage({ op: 'exit' });
  t.is(await w.exited, 0);
});

test('threads: terminate() then notify() stops a worker blocked in poll(true); its context closes with it', async (t) => {
  const w = spawn(t, 'forever.mjs', null);
  const { ctx } = await w.next<{ ctx: SharedToken }>();
  const remote = remoteContext(ctx);
  remote.notify(); // still alive: the worker keeps polling
  sleepMs(50);
  // terminate() cannot interrupt native code: the notify makes poll(true)
  // return, and the worker's JS then sees the termination.
  const exited = w.worker.terminate();
  remote.notify();
  t.is(await exited, 1);
  throwsAio(t, () => remote.notify(), 'ERR_AIO_CLOSED', 'closed by the environment cleanup hook');
});

/* ---- native threads --------------------------------------------------------- */

test('threads: a plain C++ std::thread schedules a remote BH n times (lockstep: n runs)', (t) => {
  const n = 1000;
  const ctx = openContext(t, { name: 'native-target' });
  let calls = 0;
  const bh = ctx.bh(() => calls++);
  const job = scheduleFromNativeThread(bh.share(), n, { lockstep: true });
  pollUntil(ctx, () => calls >= n, 30_000);
  t.deepEqual(job.join(), { scheduled: n, error: null });
  t.false(ctx.poll(false));
  t.is(calls, n);
  bh.delete();
});

test('threads: a native thread hammering a BH coalesces; deleting the BH stops it with ENOENT', (t) => {
  const ctx = openContext(t, { name: 'native-hammer' });
  let calls = 0;
  const bh = ctx.bh(() => calls++);
  // The thread notifies the context when it is done (through the C API), or
  // this poll(true) loop could sleep through the end of the job.
  const job = scheduleFromNativeThread(bh.share(), 100_000, { lockstep: false, notify: ctx.share() });
  pollUntil(ctx, () => job.done, 30_000);
  const r = job.join();
  ctx.poll(false);
  t.deepEqual(r, { scheduled: 100_000, error: null });
  t.true(calls >= 1 && calls <= 100_000, `calls = ${calls}`);

  // Deleted from its own callback while the thread keeps scheduling.
  calls = 0;
  const victim = ctx.bh(() => {
    if (++calls === 100) victim.delete();
  });
  const job2 = scheduleFromNativeThread(victim.share(), 10_000_000, { lockstep: true, notify: ctx.share() });
  pollUntil(ctx, () => job2.done, 30_000);
  const r2 = job2.join();
  drain(ctx);
  t.is(r2.error, 'ENOENT');
  t.true(r2.scheduled >= 100 && r2.scheduled <= 101, `scheduled = ${r2.scheduled}`);
  t.is(calls, 100);
  bh.delete();
});

/* ---- the context lock across threads ---------------------------------------- */

test('threads: remoteContext().acquire()/release() share the recursive lock with ctx.acquire()', async (t) => {
  const ctx = new AioContext({ name: 'locked' });
  t.teardown(() => ctx.close());
  const state = new Int32Array(new SharedArrayBuffer(4));
  const holdMs = 100;

  ctx.acquire();
  const w = spawn(t, 'acquire.mjs', { token: ctx.share(), state: state.buffer, holdMs, leave: false });
  waitFor(state, 0, 1);
  sleepMs(100);
  t.is(Atomics.load(state, 0), 1, 'the worker waits while the main thread holds the lock');
  ctx.release();
  waitFor(state, 0, 2);

  // Now the worker holds it: the main thread's acquire() waits for its release.
  signal(state, 0, 3);
  let t0 = performance.now();
  ctx.acquire();
  const waited = performance.now() - t0;
  ctx.release();
  t.true(waited >= holdMs * 0.8, `ctx.acquire() returned after ${waited.toFixed(1)} ms`);
  waitFor(state, 0, 4);

  // close() waits for a remote holder, then remote calls fail.
  signal(state, 0, 5);
  waitFor(state, 0, 6);
  t0 = performance.now();
  ctx.close();
  const closing = performance.now() - t0;
  t.true(closing >= holdMs * 0.8, `close() returned after ${closing.toFixed(1)} ms`);
  waitFor(state, 0, 7); // the worker's release() returned
  signal(state, 0, 8);

  const r = await w.next<{ extraRelease: ErrorInfo; afterClose: { acquire: ErrorInfo; notify: ErrorInfo } }>();
  t.is(r.extraRelease.code, 'ERR_AIO_NOT_ACQUIRED');
  t.is(r.afterClose.acquire.code, 'ERR_AIO_CLOSED');
  t.is(r.afterClose.notify.code, 'ERR_AIO_CLOSED');
  t.is(await w.exited, 0);
});

test('threads: a worker that exits holding the lock gives it back', async (t) => {
  const ctx = openContext(t, { name: 'left-locked' });
  const state = new Int32Array(new SharedArrayBuffer(4));
  const w = spawn(t, 'acquire.mjs', { token: ctx.share(), state: state.buffer, holdMs: 0, leave: true });
  waitFor(state, 0, 2);
  signal(state, 0, 3);
  waitFor(state, 0, 4);
  signal(state, 0, 5);
  waitFor(state, 0, 6);
  t.like(await w.next(), { left: true });
  t.is(await w.exited, 0);
  const t0 = performance.now();
  ctx.acquire(); // would block forever if the worker's level were still held
  ctx.release();
  t.true(performance.now() - t0 < 1000);
});

test('threads: acquire() through a remote handle on the home thread is released by close()', (t) => {
  const ctx = new AioContext();
  const rc = remoteContext(ctx.share());
  rc.acquire();
  rc.acquire();
  rc.release();
  ctx.close(); // must not wait for itself
  throwsAio(t, () => rc.release(), 'ERR_AIO_CLOSED');
  const other = new AioContext();
  const ro = remoteContext(other.share());
  throwsAio(t, () => ro.release(), 'ERR_AIO_NOT_ACQUIRED');
  other.close();
  t.pass();
});

/* ---- GLib dispatch from a foreign thread ------------------------------------- */

test('threads: a GMainContext iterated on another thread does not run the context; iteration() there throws ERR_AIO_WRONG_THREAD', async (t) => {
  const ctx = openContext(t, { name: 'home-only' });
  const main = MainContext.default();
  let calls = 0;
  const bh = ctx.bh(() => calls++);
  ctx.attach(main);
  bh.schedule();
  const w = spawn(t, 'foreign-dispatch.mjs', { iterations: 3 });
  const r = await w.next<{ results: (boolean | ErrorInfo)[] }>();
  t.is(await w.exited, 0);
  t.is(calls, 0, 'the worker did not run the BH');
  t.is(r.results.length, 3);
  for (const res of r.results) {
    t.like(res, { code: 'ERR_AIO_WRONG_THREAD', isAioError: true });
  }
  // The home thread runs it.
  t.true(main.iteration(false));
  t.is(calls, 1);
  ctx.detach();
  bh.delete();
});

/* ---- the example ------------------------------------------------------------ */

test('threads: examples/iothread-worker runs: jobs out, results back, clean shutdown', async (t) => {
  const { execFile } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const main = fileURLToPath(new URL('../examples/iothread-worker/main.ts', import.meta.url));
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import=tsx', main], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
  t.is(code, 0, stderr);
  t.regex(stdout, /main: +4 results after \d+ poll\(true\) calls\n/);
  t.regex(stdout, /iothread: inbox BH ran: drained 3 message\(s\)/);
  t.regex(stdout, /worker exited with code 0/);
  t.regex(stdout, /scheduling its BH now throws ERR_AIO_CLOSED/);
});
