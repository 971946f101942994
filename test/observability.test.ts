/*
 * Observability: ctx.stats counters (exact counts), the
 * 'aiocontext:dispatch' / 'aiocontext:poll' diagnostics channels (exact
 * sequence, nothing published without a subscriber), and the Chrome
 * trace-event JSON of startTrace()/stopTrace().
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { Worker } from 'node:worker_threads';
import test from 'ava';
import { AioContext, MainContext, SCALE_NS, clockNs, pipe } from 'aiocontext';
import type { DispatchMessage, PollMessage } from 'aiocontext';
import { closeFds, drain, openContext, readAvailable, writeBytes } from './helpers/loop.js';

type Counters = Pick<AioContext['stats'], 'dispatches' | 'blockingWaits' | 'notifyWakeups' | 'pollHits' | 'pollMisses'>;

function counters(ctx: AioContext): Counters {
  const { dispatches, blockingWaits, notifyWakeups, pollHits, pollMisses } = ctx.stats;
  return { dispatches, blockingWaits, notifyWakeups, pollHits, pollMisses };
}

const ZERO: Counters = { dispatches: { bh: 0, fd: 0, timer: 0 }, blockingWaits: 0, notifyWakeups: 0, pollHits: 0, pollMisses: 0 };

/* ------------------------------------------------------------ counters */

test('observe: a fresh context counts nothing', (t) => {
  const ctx = new AioContext({ name: 'obs-fresh' });
  t.teardown(() => ctx.close());
  t.deepEqual(counters(ctx), ZERO);
  t.is(ctx.stats.pollTimeNs, 0);
});

test('observe: dispatches count BHs, oneshots, fd callbacks and timers, each once', (t) => {
  const ctx = new AioContext({ name: 'obs-dispatch' });
  t.teardown(() => ctx.close());
  const a = ctx.bh(() => {});
  const b = ctx.bh(() => {});
  a.schedule();
  b.schedule();
  ctx.scheduleOneshot(() => {});
  t.true(ctx.poll(false));
  t.deepEqual(ctx.stats.dispatches, { bh: 3, fd: 0, timer: 0 });
  t.is(ctx.stats.blockingWaits, 0, 'poll(false) never waits');

  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  ctx.setFdHandler(r, { read: () => void readAvailable(r) });
  t.false(ctx.poll(false)); // accepts the notify of setFdHandler()
  writeBytes(w, 3);
  t.true(ctx.poll(true)); // no BH, no timer, not notified: an infinite wait that the fd ends
  t.deepEqual(ctx.stats.dispatches, { bh: 3, fd: 1, timer: 0 });
  t.is(ctx.stats.blockingWaits, 1);

  const timer = ctx.timer('realtime', SCALE_NS, () => {});
  timer.mod(clockNs('realtime'));
  t.true(ctx.poll(true)); // expired: timeout 0, no wait
  t.deepEqual(ctx.stats.dispatches, { bh: 3, fd: 1, timer: 1 });
  t.is(ctx.stats.blockingWaits, 1);

  b.schedule();
  t.true(ctx.poll(true)); // a scheduled BH: timeout 0
  t.deepEqual(ctx.stats.dispatches, { bh: 4, fd: 1, timer: 1 });
  t.is(ctx.stats.blockingWaits, 1);
  t.is(ctx.stats.notifyWakeups, 0, 'nobody else woke it');
  ctx.setFdHandler(r, null);
  timer.delete();
  a.delete();
  b.delete();
});

test('observe: the GSource path counts the same dispatches, and its blocking waits', (t) => {
  const ctx = new AioContext({ name: 'obs-gsource' });
  const mc = new MainContext();
  ctx.attach(mc);
  t.teardown(() => ctx.close());
  const bh = ctx.bh(() => {});
  bh.schedule();
  t.true(mc.iteration(false));
  t.deepEqual(ctx.stats.dispatches, { bh: 1, fd: 0, timer: 0 });
  t.is(ctx.stats.blockingWaits, 0, 'prepare returned TRUE: GLib polled with timeout 0');
  t.false(mc.iteration(false));
  t.is(ctx.stats.blockingWaits, 1, 'prepare let GLib block (timeout -1), check ran');
  bh.delete();
});

test('observe: a BH scheduled from another thread during a blocking poll(true) is one notify wake-up', async (t) => {
  const ctx = openContext(t, { name: 'obs-notify' });
  drain(ctx);
  const base = ctx.stats;
  let runs = 0;
  const bh = ctx.bh(() => runs++);
  const state = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(new URL('./workers/schedule-later.mjs', import.meta.url), {
    workerData: { bh: bh.share(), delayMs: 50, times: 2, state: state.buffer },
  });
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  for (let i = 1; i <= 2; i++) {
    while (runs < i) ctx.poll(true);
    Atomics.store(state, 0, i);
    Atomics.notify(state, 0);
  }
  t.is(await exited, 0);
  const s = ctx.stats;
  t.is(s.dispatches.bh - base.dispatches.bh, 2);
  t.is(s.notifyWakeups - base.notifyWakeups, 2, 'each wait was ended by the eventfd');
  t.true(s.blockingWaits - base.blockingWaits >= 2);
  bh.delete();
});

test('observe: busy polling counts its hits, misses and time', (t) => {
  const ctx = new AioContext({ name: 'obs-polling', poll: { maxNs: 200_000 } });
  t.teardown(() => ctx.close());
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let polls = 0;
  let ready = false;
  ctx.setFdHandler(r, {
    read: () => void readAvailable(r),
    poll: () => {
      polls++;
      return ready;
    },
  });
  // The first dispatch puts the handler on the poll list; its poll time
  // grows from 0 after a wait shorter than maxNs (a preempted one, longer,
  // resets it: a busy machine may need a few rounds).
  for (let i = 0; i < 1000 && ctx.stats.pollNs === 0; i++) {
    writeBytes(w);
    t.true(ctx.poll(true));
    readAvailable(r);
  }
  const before = ctx.stats;
  t.true(before.pollNs > 0, 'a short wait grew the poll time');
  ready = true;
  t.true(ctx.poll(true));
  const after = ctx.stats;
  t.is(after.pollHits - before.pollHits, 1);
  t.is(after.pollMisses, before.pollMisses);
  t.true(after.pollTimeNs >= before.pollTimeNs);
  t.true(polls > 0);
  // Nothing ready: polling runs out its time (a miss), then the wait blocks
  // until the fd is readable.
  ready = false;
  readAvailable(r);
  const timer = ctx.timer('realtime', SCALE_NS, () => {});
  timer.mod(clockNs('realtime') + 20_000_000);
  t.false(ctx.poll(false)); // accepts timer.mod()'s notify
  const missesBefore = ctx.stats.pollMisses;
  t.true(ctx.poll(true)); // the timer, 20 ms later
  t.is(ctx.stats.pollMisses - missesBefore, 1);
  timer.delete();
  ready = false;
  readAvailable(r);
  ctx.setFdHandler(r, null);
});

/* ---------------------------------------------------- diagnostics_channel */

test('observe: channels publish each callback, then the pass, in order; nothing once unsubscribed', (t) => {
  const ctx = new AioContext({ name: 'obs-channels' });
  t.teardown(() => ctx.close());
  const seen: string[] = [];
  const onDispatch = (m: unknown): void => {
    const d = m as DispatchMessage;
    if (d.context !== ctx) return;
    t.true(d.durationNs >= 0);
    seen.push(`${d.kind}:${d.name ?? d.fd ?? d.clock}`);
  };
  const onPoll = (m: unknown): void => {
    const p = m as PollMessage;
    if (p.context !== ctx) return;
    t.true(p.durationNs >= 0);
    seen.push(`${p.driver}:${String(p.blocking)}:${String(p.progress)}`);
  };
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const a = ctx.bh(() => {}, { name: 'a' });
  const b = ctx.bh(() => {}, { name: 'b' });
  const timer = ctx.timer('realtime', SCALE_NS, () => {});
  ctx.setFdHandler(r, { read: () => void readAvailable(r) });

  a.schedule(); // nobody subscribed: nothing published
  t.true(ctx.poll(false));
  t.deepEqual(seen, []);

  diagnosticsChannel.subscribe('aiocontext:dispatch', onDispatch);
  diagnosticsChannel.subscribe('aiocontext:poll', onPoll);
  try {
    a.schedule();
    b.schedule();
    writeBytes(w);
    timer.mod(clockNs('realtime'));
    t.true(ctx.poll(true));
    t.false(ctx.poll(false));
  } finally {
    diagnosticsChannel.unsubscribe('aiocontext:dispatch', onDispatch);
    diagnosticsChannel.unsubscribe('aiocontext:poll', onPoll);
  }
  // BHs LIFO, then fd handlers, then timers; then the pass.
  t.deepEqual(seen, ['bh:b', 'bh:a', `fd:${r}`, 'timer:realtime', 'poll:true:true', 'poll:false:false']);

  a.schedule();
  t.true(ctx.poll(false));
  t.is(seen.length, 6, 'unsubscribed: nothing more');
  ctx.setFdHandler(r, null);
  timer.delete();
  a.delete();
  b.delete();
});

/* ----------------------------------------------------------------- trace */

test('observe: stopTrace() returns Chrome trace-event JSON with every pass and callback', (t) => {
  const ctx = new AioContext({ name: 'obs-trace' });
  t.teardown(() => ctx.close());
  const bh = ctx.bh(() => {}, { name: 'frame' });
  t.deepEqual(ctx.stopTrace().traceEvents.filter((e) => e.ph === 'X'), [], 'no startTrace(): no events');
  ctx.startTrace({ durationMs: 60_000 });
  bh.schedule();
  t.true(ctx.poll(false));
  bh.schedule();
  t.true(ctx.poll(false));
  const trace = ctx.stopTrace();
  const json = JSON.parse(JSON.stringify(trace)) as typeof trace;
  t.is(json.displayTimeUnit, 'ns');
  t.is(json.otherData.context, 'obs-trace');
  t.is(json.otherData.dropped, 0);
  t.deepEqual(json.traceEvents[0], {
    name: 'thread_name',
    cat: '__metadata',
    ph: 'M',
    ts: 0,
    pid: process.pid,
    tid: 0,
    args: { name: "AioContext 'obs-trace'" },
  });
  const xs = json.traceEvents.filter((e) => e.ph === 'X');
  t.deepEqual(
    xs.map((e) => [e.name, e.cat]),
    [
      ['bh frame', 'aiocontext,bh'],
      ['poll', 'aiocontext,pass'],
      ['bh frame', 'aiocontext,bh'],
      ['poll', 'aiocontext,pass'],
    ],
  );
  for (const e of xs) {
    t.is(e.pid, process.pid);
    t.is(typeof e.ts, 'number');
    t.true(e.ts >= 0);
    t.true((e.dur ?? -1) >= 0);
  }
  // A callback lies inside its pass.
  t.true(xs[0].ts >= xs[1].ts && xs[0].ts + (xs[0].dur ?? 0) <= xs[1].ts + (xs[1].dur ?? 0) + 1e-3);
  // After stopTrace() nothing is recorded.
  bh.schedule();
  t.true(ctx.poll(false));
  t.is(ctx.stopTrace().traceEvents.length, 1);
  bh.delete();
});

test('observe: a trace is bounded in time and in events; GLib-driven passes are included', (t) => {
  const ctx = new AioContext({ name: 'obs-bounded' });
  const mc = new MainContext();
  ctx.attach(mc);
  t.teardown(() => ctx.close());
  const bh = ctx.bh(() => {}, { name: 'b' });
  ctx.startTrace({ maxEvents: 3 });
  for (let i = 0; i < 3; i++) {
    bh.schedule();
    t.true(mc.iteration(false));
  }
  const trace = ctx.stopTrace();
  const xs = trace.traceEvents.filter((e) => e.ph === 'X');
  t.deepEqual(xs.map((e) => e.name), ['bh b', 'gsource dispatch', 'bh b']);
  t.is(trace.otherData.dropped, 3);

  ctx.startTrace({ durationMs: 0 });
  const end = Date.now() + 5;
  while (Date.now() < end) {
    /* let the 0 ms window pass */
  }
  bh.schedule();
  t.true(mc.iteration(false));
  t.deepEqual(ctx.stopTrace().traceEvents.filter((e) => e.ph === 'X'), []);
  t.throws(() => ctx.startTrace({ durationMs: -1 }), { instanceOf: RangeError });
  t.throws(() => ctx.startTrace({ maxEvents: 1.5 }), { instanceOf: RangeError });
  bh.delete();
});
