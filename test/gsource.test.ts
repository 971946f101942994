/*
 * The context as a GSource: notify_me bits, notify() without waiters, dispatch
 * order through MainContext.iteration(), attach/detach/sourceId, priorities,
 * alternating drivers, and ns→ms rounding in prepare. API.md "Semantics",
 * SEMANTICS.md §1.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, MainContext, SCALE_MS, SCALE_NS, clockNs, pipe } from 'aiocontext';
import {
  closeFds,
  drain,
  drainMain,
  iterateUntil,
  nowMs,
  openAttached,
  openContext,
  pollUntil,
  readAvailable,
  statsSnapshot,
  watchdog,
  writeBytes,
} from './helpers/loop.js';

function counter(ctx: AioContext, name?: string): { bh: ReturnType<AioContext['bh']>; runs: () => number } {
  let runs = 0;
  const bh = ctx.bh(
    () => {
      runs++;
    },
    name === undefined ? undefined : { name },
  );
  return { bh, runs: () => runs };
}

function attachedWithWatchdog(t: ExecutionContext): { ctx: AioContext; mc: MainContext } {
  const { ctx, mc } = openAttached(t);
  const wd = watchdog(ctx, 10_000);
  t.teardown(() => wd.dispose());
  drainMain(mc);
  return { ctx, mc };
}

/* ------------------------------------------------------------- stats */

test('gsource: a fresh context has the documented stats', (t) => {
  const ctx = openContext(t);
  const { notified, ...rest } = statsSnapshot(ctx);
  t.deepEqual(rest, {
    notifyMe: 0,
    pollNs: 0,
    pollStarted: false,
    handlers: 0,
    bhs: 0,
    timers: 0,
    fdmon: 'io_uring',
  });
  // QEMU's aio_context_new() registers the context's own notifier, and every
  // aio_set_fd_handler() ends with aio_notify(): `notified` may start true.
  // The first poll accepts it.
  t.is(typeof notified, 'boolean');
  t.false(ctx.poll(false));
  t.false(ctx.stats.notified);
  t.is(ctx.sourceId, null);
  t.false(ctx.closed);
  t.false(ctx.externalDisabled);
});

test('gsource: stats is read live on every access', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
  const bh = ctx.bh(() => {});
  t.is(ctx.stats.bhs, 1);
  t.false(ctx.stats.notified);
  ctx.notify();
  t.true(ctx.stats.notified);
  bh.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
});

/* ------------------------------------------------------- notify_me */

test('gsource: notify() with notify_me 0 only marks notified', (t) => {
  const { ctx, mc } = openAttached(t);
  t.is(ctx.stats.notifyMe, 0);
  t.false(ctx.stats.notified);
  ctx.notify();
  t.true(ctx.stats.notified);
  t.is(ctx.stats.notifyMe, 0);
  // nobody was waiting, so the eventfd was not written: nothing to dispatch
  t.false(mc.iteration(false));
  t.false(ctx.stats.notified, 'check() accepted the notification');
  // the same through poll(): not progress
  ctx.notify();
  t.false(ctx.poll(false));
  t.false(ctx.stats.notified);
});

test('gsource: bit 0 of notifyMe, set by a TRUE prepare, is cleared when dispatch starts (QEMU: by the next check)', (t) => {
  const { ctx, mc } = openAttached(t);
  let inDispatch = -1;
  const bh = ctx.bh(() => {
    inDispatch = ctx.stats.notifyMe;
  });
  t.is(ctx.stats.notifyMe, 0);
  bh.schedule();
  t.true(mc.iteration(false));
  // prepare returned TRUE, so GLib skipped check(): dispatch cleared the bit
  // before running the BH (README, "Semantics": the one deviation from QEMU)
  t.is(inDispatch, 0, 'cleared before the callbacks run');
  t.is(ctx.stats.notifyMe, 0);
  t.false(mc.iteration(false));
  t.is(ctx.stats.notifyMe, 0);
  bh.delete();
  drainMain(mc);
});

test('gsource: a notify() after a dispatch that followed a TRUE prepare writes nothing: no extra TRUE iteration', (t) => {
  // QEMU: bit 0 is still set here, the notify writes the eventfd, and the
  // next iteration returns TRUE with no user callback run.
  const { ctx, mc } = openAttached(t);
  const { bh, runs } = counter(ctx);
  bh.schedule();
  t.true(mc.iteration(false));
  t.is(runs(), 1);
  t.is(ctx.stats.notifyMe, 0);
  ctx.notify();
  t.true(ctx.stats.notified);
  t.false(mc.iteration(false), 'nothing was written: the notifier fd is not ready');
  t.is(runs(), 1);
  t.is(ctx.stats.notifyMe, 0);
  bh.delete();
  drainMain(mc);
});

test('gsource: a BH that schedules itself costs one dispatching iteration per run, and none after the last', (t) => {
  const { ctx, mc } = openAttached(t);
  let n = 0;
  const bh = ctx.bh(() => {
    if (++n < 5) bh.schedule();
  });
  bh.schedule();
  const results: boolean[] = [];
  for (let i = 0; i < 7; i++) results.push(mc.iteration(false));
  // five dispatching iterations, then quiet: no iteration only drains the eventfd
  t.deepEqual(results, [true, true, true, true, true, false, false]);
  t.is(n, 5);
  bh.delete();
  drainMain(mc);
});

test('gsource: without notify() the iteration after a TRUE prepare returns FALSE', (t) => {
  // the control for the previous test
  const { ctx, mc } = openAttached(t);
  const { bh, runs } = counter(ctx);
  bh.schedule();
  t.true(mc.iteration(false));
  t.is(runs(), 1);
  t.false(mc.iteration(false));
  bh.delete();
  drainMain(mc);
});

test('gsource: bits 1-31 of notifyMe are 0 after every poll()', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  const { bh, runs } = counter(ctx);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  ctx.setFdHandler(r, {
    read: () => {
      readAvailable(r);
    },
  });
  const check = (label: string): void => {
    t.is(ctx.stats.notifyMe >>> 1, 0, label);
  };
  t.false(ctx.poll(false));
  check('poll(false), idle');
  bh.schedule();
  t.true(ctx.poll(true));
  check('poll(true), BH');
  writeBytes(w);
  t.true(ctx.poll(true));
  check('poll(true), fd');
  ctx.notify();
  t.false(ctx.poll(true));
  check('poll(true), notify only');
  // a TRUE prepare through the GSource (its dispatch clears bit 0), then poll()
  bh.schedule();
  t.true(mc.iteration(false));
  t.is(ctx.stats.notifyMe, 0);
  bh.schedule();
  t.true(ctx.poll(true));
  check('poll(true) after a TRUE prepare');
  t.is(ctx.stats.notifyMe, 0);
  t.is(runs(), 3);
  ctx.setFdHandler(r, null);
  bh.delete();
  drainMain(mc);
  t.is(ctx.stats.notifyMe, 0);
});

test('gsource: a nested poll(true) from a BH leaves notifyMe bits 1-31 at 0', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  let inner: boolean | undefined;
  let seen = -1;
  const other = ctx.bh(() => {});
  const outer = ctx.bh(() => {
    other.schedule();
    inner = ctx.poll(true);
    seen = ctx.stats.notifyMe;
  });
  outer.schedule();
  t.true(mc.iteration(false));
  t.true(inner);
  t.is(seen >>> 1, 0);
  outer.delete();
  other.delete();
  drainMain(mc);
});

/* --------------------------------------------------- dispatch order */

test('gsource: one iteration dispatches BHs, then fd handlers, then timers', (t) => {
  const { ctx, mc } = openAttached(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const order: string[] = [];
  const bh = ctx.bh(() => {
    order.push('bh');
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    order.push('timer');
  });
  ctx.setFdHandler(r, {
    read: () => {
      order.push('fd');
      readAvailable(r);
    },
  });
  drainMain(mc);
  writeBytes(w);
  timer.modNs(1);
  bh.schedule();
  t.true(mc.iteration(false));
  t.deepEqual(order, ['bh', 'fd', 'timer']);
  drainMain(mc);
  t.deepEqual(order, ['bh', 'fd', 'timer']);
  ctx.setFdHandler(r, null);
  bh.delete();
  timer.delete();
  drainMain(mc);
});

test('gsource: fd readiness alone is dispatched by iteration', (t) => {
  const { ctx, mc } = openAttached(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let reads = 0;
  ctx.setFdHandler(r, {
    read: () => {
      reads++;
      readAvailable(r);
    },
  });
  drainMain(mc);
  t.false(mc.iteration(false));
  writeBytes(w);
  t.true(mc.iteration(false));
  t.is(reads, 1);
  t.false(mc.iteration(false));
  ctx.setFdHandler(r, null);
});

test('gsource: iteration(true) wakes up for fd data', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let reads = 0;
  ctx.setFdHandler(r, {
    read: () => {
      reads++;
      readAvailable(r);
    },
  });
  drainMain(mc);
  writeBytes(w);
  const calls = iterateUntil(mc, ctx, () => reads === 1);
  t.is(calls, 1);
  ctx.setFdHandler(r, null);
});

/* ----------------------------------------------------- attach/detach */

test('gsource: attach returns a positive source id equal to sourceId; detach sets null', (t) => {
  const ctx = openContext(t);
  const mc = new MainContext();
  t.is(ctx.sourceId, null);
  const id = ctx.attach(mc);
  t.true(Number.isInteger(id) && id > 0, `id ${id}`);
  t.is(ctx.sourceId, id);
  ctx.detach();
  t.is(ctx.sourceId, null);
});

test('gsource: a detached context is not dispatched by the MainContext', (t) => {
  const ctx = openContext(t);
  const mc = new MainContext();
  const { bh, runs } = counter(ctx);
  ctx.attach(mc);
  drainMain(mc);
  ctx.detach();
  bh.schedule();
  t.false(mc.iteration(false));
  t.is(runs(), 0);
  t.true(ctx.poll(false), 'poll() still drives it');
  t.is(runs(), 1);
  bh.delete();
  drain(ctx);
});

test('gsource: attach after detach works', (t) => {
  const ctx = openContext(t);
  const mc = new MainContext();
  const { bh, runs } = counter(ctx);
  const first = ctx.attach(mc);
  ctx.detach();
  const second = ctx.attach(mc);
  t.true(second > 0);
  t.is(ctx.sourceId, second);
  t.not(second, first, 'GLib hands out a new id');
  drainMain(mc);
  bh.schedule();
  t.true(mc.iteration(false));
  t.is(runs(), 1);
  // and to another MainContext
  ctx.detach();
  const mc2 = new MainContext();
  t.true(ctx.attach(mc2) > 0);
  drainMain(mc2);
  bh.schedule();
  t.false(mc.iteration(false));
  t.true(mc2.iteration(false));
  t.is(runs(), 2);
  bh.delete();
  drainMain(mc2);
});

test('gsource: attach() without a MainContext uses the default one', (t) => {
  const ctx = openContext(t);
  const { bh, runs } = counter(ctx);
  const id = ctx.attach();
  t.true(id > 0);
  const dflt = MainContext.default();
  drainMain(dflt);
  bh.schedule();
  t.true(dflt.iteration(false));
  t.is(runs(), 1);
  bh.delete();
  drainMain(dflt);
  ctx.detach();
});

test('gsource: MainContext.pending() reports a scheduled BH', (t) => {
  const { ctx, mc } = openAttached(t);
  const { bh, runs } = counter(ctx);
  t.false(mc.pending());
  bh.schedule();
  t.true(mc.pending());
  t.is(runs(), 0, 'pending() does not dispatch');
  t.true(mc.iteration(false));
  t.is(runs(), 1);
  bh.delete();
  drainMain(mc);
  t.false(mc.pending());
});

test('gsource: priority option — the higher-priority context is dispatched alone first', (t) => {
  const mc = new MainContext();
  const high = openContext(t);
  const low = openContext(t);
  high.attach(mc, { priority: -100 });
  low.attach(mc, { priority: 100 });
  drainMain(mc);
  const order: string[] = [];
  const hb = high.bh(() => {
    order.push('high');
  });
  const lb = low.bh(() => {
    order.push('low');
  });
  lb.schedule();
  hb.schedule();
  t.true(mc.iteration(false));
  t.deepEqual(order, ['high'], 'GLib dispatches only the most urgent ready priority');
  t.true(mc.iteration(false));
  t.deepEqual(order, ['high', 'low']);
  hb.delete();
  lb.delete();
  drainMain(mc);
});

test('gsource: priority option accepted for equal priorities too', (t) => {
  const mc = new MainContext();
  const a = openContext(t);
  const b = openContext(t);
  t.true(a.attach(mc, { priority: 0 }) > 0);
  t.true(b.attach(mc, {}) > 0);
  drainMain(mc);
  const order: string[] = [];
  const ab = a.bh(() => {
    order.push('a');
  });
  const bb = b.bh(() => {
    order.push('b');
  });
  ab.schedule();
  bb.schedule();
  t.true(mc.iteration(false));
  t.deepEqual([...order].sort(), ['a', 'b'], 'same priority: both in one iteration');
  ab.delete();
  bb.delete();
  drainMain(mc);
});

/* -------------------------------------------------- mixed drivers */

test('gsource: poll, then iteration, then poll keep working', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const { bh, runs } = counter(ctx);
  let reads = 0;
  let fires = 0;
  ctx.setFdHandler(r, {
    read: () => {
      reads++;
      readAvailable(r);
    },
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    fires++;
  });
  t.teardown(() => timer.delete());
  drain(ctx);
  drainMain(mc);

  for (let round = 1; round <= 3; round++) {
    const driver = round === 2 ? 'iteration' : 'poll';
    const step = (): boolean => (driver === 'poll' ? ctx.poll(false) : mc.iteration(false));
    bh.schedule();
    t.true(step(), `${driver}: BH`);
    t.is(runs(), round);
    writeBytes(w);
    t.true(step(), `${driver}: fd`);
    t.is(reads, round);
    timer.modNs(1);
    t.true(step(), `${driver}: timer`);
    t.is(fires, round);
    if (driver === 'poll') drain(ctx);
    else drainMain(mc);
  }
  // blocking variants in turn
  bh.schedule();
  t.true(mc.iteration(true));
  bh.schedule();
  t.true(ctx.poll(true));
  bh.schedule();
  t.true(mc.iteration(true));
  t.is(runs(), 6);
  ctx.setFdHandler(r, null);
  bh.delete();
  drainMain(mc);
  drain(ctx);
});

test('gsource: a BH scheduled after a dispatch that followed a TRUE prepare is run by poll()', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  const { bh, runs } = counter(ctx);
  bh.schedule();
  t.true(mc.iteration(false));
  t.is(ctx.stats.notifyMe, 0);
  bh.schedule();
  t.true(ctx.poll(true));
  t.is(runs(), 2);
  drain(ctx);
  drainMain(mc);
  t.false(ctx.poll(false));
  t.false(mc.iteration(false));
  bh.delete();
  drainMain(mc);
});

/* --------------------------------------------------------- rounding */

test('gsource: a 5 ms timer does not make iteration(true) busy-loop (timeout rounded up)', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    fired++;
  });
  t.teardown(() => timer.delete());
  drainMain(mc);
  timer.modNs(clockNs('realtime') + 5 * SCALE_MS);
  const calls = iterateUntil(mc, ctx, () => fired === 1);
  t.is(fired, 1);
  t.true(calls <= 5, `${calls} iterations for one 5 ms timer`);
});

test('gsource: several sub-ms deadlines in a row stay bounded', (t) => {
  const { ctx, mc } = attachedWithWatchdog(t);
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    fired++;
  });
  t.teardown(() => timer.delete());
  drainMain(mc);
  let calls = 0;
  for (let i = 0; i < 5; i++) {
    // 0.3 ms ahead: prepare must round this up to 1 ms, never down to 0
    timer.modNs(clockNs('realtime') + 300_000);
    calls += iterateUntil(mc, ctx, () => fired === i + 1);
  }
  t.is(fired, 5);
  t.true(calls <= 25, `${calls} iterations for five 0.3 ms timers`);
});

test('gsource: poll(true) on a 5 ms timer takes few calls', (t) => {
  const ctx = openContext(t);
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    fired++;
  });
  t.teardown(() => timer.delete());
  timer.mod(nowMs() + 5);
  const calls = pollUntil(ctx, () => fired === 1);
  t.true(calls <= 3, `${calls} poll(true) calls`);
});

// issue #13 (QEMU's /aio-gsource/flush on io_uring): removing a handler made
// the ring fd readable (POLL_REMOVE, cancelled POLL_ADD), and iteration(false)
// returned true although no callback ran.
for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
  test(`gsource [${fdmon}]: removing a handler is not a dispatch`, (t) => {
    const { ctx, mc } = openAttached(t, { fdmon });
    const [r, w] = pipe();
    t.teardown(() => closeFds(r, w));
    let n = 0;
    for (let round = 0; round < 10; round++) {
      ctx.setFdHandler(r, {
        read: () => {
          n++;
          readAvailable(r);
        },
      });
      drainMain(mc);
      writeBytes(w);
      iterateUntil(mc, ctx, () => n === round + 1);
      drainMain(mc);
      ctx.setFdHandler(r, null);
      for (let i = 0; i < 5; i++) t.false(mc.iteration(false), `round ${round}: nothing to dispatch`);
    }
    t.is(n, 10);
  });
}
