/*
 * Clocks and timers: clockNs, scales, mod/modNs/modAnticipate/del/delete,
 * pending/expireTime/expired, run order, deadlines and computeTimeout, and
 * where timers run inside one poll. SEMANTICS.md §5. No test here depends on
 * tight timing: expiries are either in the past (modNs(1)) or far away, and
 * waits are counted in calls, not measured.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, SCALE_MS, SCALE_NS, SCALE_US, clockNs, pipe } from 'aiocontext';
import type { Timer } from 'aiocontext';
import { closeFds, drain, nowMs, openContext, pollUntil, readAvailable, writeBytes } from './helpers/loop.js';

function fresh(t: ExecutionContext): AioContext {
  const ctx = openContext(t);
  drain(ctx);
  return ctx;
}

/** A timer that counts its runs; deleted at teardown. */
function counting(t: ExecutionContext, ctx: AioContext, scale = SCALE_NS): { timer: Timer; runs: () => number } {
  let runs = 0;
  const timer = ctx.timer('realtime', scale, () => {
    runs++;
  });
  t.teardown(() => {
    if (!ctx.closed) timer.delete();
  });
  return { timer, runs: () => runs };
}

const HOUR_NS = 3600 * 1e9;

/** The realtime clock in whole ms, rounded down: `floorMs() + d` is at most d ms away. */
function floorMs(): number {
  return Math.floor(clockNs('realtime') / SCALE_MS);
}

/* ---------------------------------------------------------------- clocks */

test('timer: scale constants', (t) => {
  t.is(SCALE_NS, 1);
  t.is(SCALE_US, 1_000);
  t.is(SCALE_MS, 1_000_000);
});

test('timer: clockNs() is the monotonic realtime clock', (t) => {
  const a = clockNs();
  const b = clockNs('realtime');
  const c = clockNs();
  t.true(Number.isInteger(a));
  t.true(a > 0);
  t.true(b >= a);
  t.true(c >= b);
  // it follows CLOCK_MONOTONIC, like process.hrtime
  const hr = Number(process.hrtime.bigint());
  t.true(Math.abs(clockNs('realtime') - hr) < 5e9, 'within 5 s of process.hrtime');
});

test('timer: clockNs is non-decreasing over many reads', (t) => {
  let prev = clockNs('realtime');
  let backwards = 0;
  for (let i = 0; i < 10_000; i++) {
    const now = clockNs('realtime');
    if (now < prev) backwards++;
    prev = now;
  }
  t.is(backwards, 0);
});

test('timer: host clock is the wall clock', (t) => {
  const host = clockNs('host');
  t.true(Number.isFinite(host));
  t.true(Math.abs(host - Date.now() * 1e6) < 60e9, 'within a minute of Date.now()');
});

/* ------------------------------------------------------------- arming */

test('timer: a new timer is not pending and reports expireTime -1', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx);
  t.false(timer.pending);
  t.is(timer.expireTime, -1);
  t.is(ctx.computeTimeout(), -1);
});

test('timer: mod() takes the timer scale, expireTime is in ns', (t) => {
  const ctx = fresh(t);
  const ms = counting(t, ctx, SCALE_MS).timer;
  const us = counting(t, ctx, SCALE_US).timer;
  const ns = counting(t, ctx, SCALE_NS).timer;
  const baseMs = nowMs() + 3_600_000;
  ms.mod(baseMs);
  us.mod(baseMs * 1000 + 7);
  ns.mod(baseMs * SCALE_MS + 9);
  t.true(ms.pending);
  t.is(ms.expireTime, baseMs * SCALE_MS);
  t.is(us.expireTime, (baseMs * 1000 + 7) * SCALE_US);
  t.is(ns.expireTime, baseMs * SCALE_MS + 9);
  for (const tm of [ms, us, ns]) tm.del();
});

test('timer: modNs() ignores the scale', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx, SCALE_MS);
  const when = clockNs() + HOUR_NS + 123;
  timer.modNs(when);
  t.is(timer.expireTime, when);
  t.true(timer.pending);
  timer.del();
});

test('timer: mod() again moves the timer (later and earlier)', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx);
  const base = clockNs() + HOUR_NS;
  timer.mod(base);
  timer.mod(base + 1000);
  t.is(timer.expireTime, base + 1000);
  timer.mod(base - 1000);
  t.is(timer.expireTime, base - 1000);
  timer.del();
});

test('timer: modAnticipate only moves a pending timer earlier', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx, SCALE_MS);
  const base = nowMs() + 3_600_000;
  timer.mod(base);
  timer.modAnticipate(base + 10);
  t.is(timer.expireTime, base * SCALE_MS, 'later: unchanged');
  timer.modAnticipate(base - 10);
  t.is(timer.expireTime, (base - 10) * SCALE_MS, 'earlier: moved');
  timer.modAnticipate(base - 10);
  t.is(timer.expireTime, (base - 10) * SCALE_MS);
  timer.del();
});

test('timer: modAnticipate arms a timer that is not pending', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx, SCALE_MS);
  const base = nowMs() + 3_600_000;
  timer.modAnticipate(base);
  t.true(timer.pending);
  t.is(timer.expireTime, base * SCALE_MS);
  timer.del();
});

test('timer: del() disarms; the callback never runs', (t) => {
  const ctx = fresh(t);
  const { timer, runs } = counting(t, ctx);
  timer.modNs(1); // long expired
  t.true(timer.pending);
  timer.del();
  t.false(timer.pending);
  t.is(timer.expireTime, -1);
  t.is(ctx.computeTimeout(), -1);
  t.false(ctx.poll(false));
  t.is(runs(), 0);
  timer.del(); // twice is harmless
  t.false(timer.pending);
});

test('timer: delete() frees the timer and it never runs', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    runs++;
  });
  t.is(ctx.stats.timers, 1);
  timer.modNs(1);
  timer.delete();
  t.is(ctx.stats.timers, 0);
  t.false(ctx.poll(false));
  t.is(runs, 0);
  t.is(ctx.computeTimeout(), -1);
});

test('timer: stats.timers counts timers created and not deleted', (t) => {
  const ctx = fresh(t);
  t.is(ctx.stats.timers, 0);
  const a = ctx.timer('realtime', SCALE_NS, () => {});
  const b = ctx.timer('realtime', SCALE_MS, () => {});
  const c = ctx.timer('host', SCALE_US, () => {});
  t.is(ctx.stats.timers, 3);
  a.modNs(clockNs() + HOUR_NS);
  t.is(ctx.stats.timers, 3, 'arming does not count twice');
  a.del();
  t.is(ctx.stats.timers, 3, 'del() keeps the timer');
  a.delete();
  b.delete();
  t.is(ctx.stats.timers, 1);
  c.delete();
  t.is(ctx.stats.timers, 0);
});

/* ------------------------------------------------------------- expired */

test('timer: expired() compares in the timer scale', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx, SCALE_MS);
  const base = nowMs() + 3_600_000;
  timer.mod(base);
  t.false(timer.expired(base - 1));
  t.true(timer.expired(base));
  t.true(timer.expired(base + 1));
  t.false(timer.expired(0));
  timer.del();
});

test('timer: expired() is true for a timer that is not pending (as QEMU)', (t) => {
  const ctx = fresh(t);
  const { timer } = counting(t, ctx);
  t.true(timer.expired(0));
  t.true(timer.expired(clockNs()));
  timer.modNs(clockNs() + HOUR_NS);
  t.false(timer.expired(clockNs()));
  timer.del();
  t.true(timer.expired(0));
});

/* ----------------------------------------------------------- running */

test('timer: an expired timer runs once in poll(false) and is no longer pending', (t) => {
  const ctx = fresh(t);
  const { timer, runs } = counting(t, ctx);
  timer.modNs(1);
  t.is(ctx.computeTimeout(), 0);
  t.true(ctx.poll(false));
  t.is(runs(), 1);
  t.false(timer.pending);
  t.is(timer.expireTime, -1);
  t.false(ctx.poll(false));
  t.is(runs(), 1);
});

test('timer: a future timer does not run early', (t) => {
  const ctx = fresh(t);
  const { timer, runs } = counting(t, ctx);
  timer.modNs(clockNs() + HOUR_NS);
  t.false(ctx.poll(false));
  t.false(ctx.poll(false));
  t.is(runs(), 0);
  t.true(timer.pending);
  timer.del();
});

test('timer: poll(true) waits for a timer without spinning', (t) => {
  const ctx = fresh(t);
  const { timer, runs } = counting(t, ctx, SCALE_MS);
  const expire = nowMs() + 30;
  timer.mod(expire);
  const calls = pollUntil(ctx, () => runs() === 1);
  t.is(runs(), 1);
  t.true(clockNs() >= expire * SCALE_MS, 'did not run before its expiry');
  t.true(calls <= 3, `${calls} poll(true) calls for one 30 ms timer`);
});

test('timer: equal expiry runs first-armed first', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const make = (name: string): Timer => {
    const tm = ctx.timer('realtime', SCALE_NS, () => {
      order.push(name);
    });
    t.teardown(() => tm.delete());
    return tm;
  };
  const a = make('a');
  const b = make('b');
  const c = make('c');
  const when = clockNs('realtime') - 1000;
  b.modNs(when);
  a.modNs(when);
  c.modNs(when);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['b', 'a', 'c']);

  // re-arming moves a timer behind the others with the same expiry
  order.length = 0;
  a.modNs(when);
  b.modNs(when);
  c.modNs(when);
  a.modNs(when);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['b', 'c', 'a']);
});

test('timer: timers run in expiry order, not arming order', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const timers = ['a', 'b', 'c'].map((name) => {
    const tm = ctx.timer('realtime', SCALE_NS, () => {
      order.push(name);
    });
    t.teardown(() => tm.delete());
    return tm;
  });
  const [a, b, c] = timers as [Timer, Timer, Timer];
  const now = clockNs();
  a.modNs(now - 10);
  b.modNs(now - 30);
  c.modNs(now - 20);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['b', 'c', 'a']);
});

test('timer: computeTimeout reflects the next deadline', (t) => {
  const ctx = fresh(t);
  const far = counting(t, ctx, SCALE_MS).timer;
  const near = counting(t, ctx, SCALE_MS).timer;
  t.is(ctx.computeTimeout(), -1);

  far.mod(floorMs() + 200_000);
  const t1 = ctx.computeTimeout();
  t.true(t1 > 0, `got ${t1}`);
  t.true(t1 <= 200_000 * SCALE_MS, `got ${t1}`);
  t.true(t1 > 100_000 * SCALE_MS, `got ${t1}`);

  near.mod(floorMs() + 50_000);
  const t2 = ctx.computeTimeout();
  t.true(t2 > 0);
  t.true(t2 <= 50_000 * SCALE_MS, `the nearer timer wins, got ${t2}`);

  near.del();
  const t3 = ctx.computeTimeout();
  t.true(t3 > 50_000 * SCALE_MS && t3 <= 200_000 * SCALE_MS, `got ${t3}`);

  far.del();
  t.is(ctx.computeTimeout(), -1);

  near.modNs(1);
  t.is(ctx.computeTimeout(), 0, 'an expired timer gives 0');
  near.del();
});

test('timer: computeTimeout takes the soonest over clocks', (t) => {
  const ctx = fresh(t);
  const rt = ctx.timer('realtime', SCALE_MS, () => {});
  const host = ctx.timer('host', SCALE_MS, () => {});
  t.teardown(() => {
    rt.delete();
    host.delete();
  });
  rt.mod(floorMs() + 500_000);
  host.mod(Math.floor(clockNs('host') / SCALE_MS) + 100_000);
  const ct = ctx.computeTimeout();
  t.true(ct > 0 && ct <= 100_000 * SCALE_MS, `got ${ct}`);
  rt.del();
  host.del();
});

test('timer: a timer re-armed at or before the pass `now` runs again in the same pass', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    if (++runs < 3) timer.modNs(1);
  });
  t.teardown(() => timer.delete());
  timer.modNs(1);
  t.true(ctx.poll(false));
  t.is(runs, 3);
  t.false(timer.pending);
  t.false(ctx.poll(false));
  t.is(runs, 3);
});

test('timer: a timer re-armed into the future runs once per pass', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    runs++;
    timer.mod(nowMs() + 3_600_000);
  });
  t.teardown(() => timer.delete());
  timer.modNs(1);
  t.true(ctx.poll(false));
  t.is(runs, 1);
  t.true(timer.pending);
  t.false(ctx.poll(false));
  t.is(runs, 1);
  timer.del();
});

test('timer: BHs, then fd handlers, then timers within one poll', (t) => {
  const ctx = fresh(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const order: string[] = [];
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    order.push('timer');
  });
  const bh = ctx.bh(() => {
    order.push('bh');
  });
  ctx.setFdHandler(r, {
    read: () => {
      order.push('fd');
      readAvailable(r);
    },
  });
  drain(ctx);
  timer.modNs(1);
  writeBytes(w);
  bh.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['bh', 'fd', 'timer']);
  t.false(ctx.poll(false));
  ctx.setFdHandler(r, null);
  bh.delete();
  timer.delete();
  drain(ctx);
});

test('timer: deleting a timer from its own callback', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    runs++;
    timer.delete();
  });
  timer.modNs(1);
  t.is(ctx.stats.timers, 1);
  t.true(ctx.poll(false));
  t.is(runs, 1);
  t.is(ctx.stats.timers, 0);
  t.false(ctx.poll(false));
  t.is(runs, 1);
});

test('timer: deleting a later timer from an earlier one in the same pass', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const second = ctx.timer('realtime', SCALE_NS, () => {
    order.push('second');
  });
  const first = ctx.timer('realtime', SCALE_NS, () => {
    order.push('first');
    second.delete();
  });
  t.teardown(() => first.delete());
  first.modNs(1);
  second.modNs(2);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['first']);
  t.false(ctx.poll(false));
  t.deepEqual(order, ['first']);
  t.is(ctx.stats.timers, 1);
});

test('timer: del() of a later timer from an earlier one in the same pass', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const second = ctx.timer('realtime', SCALE_NS, () => {
    order.push('second');
  });
  const first = ctx.timer('realtime', SCALE_NS, () => {
    order.push('first');
    second.del();
  });
  t.teardown(() => {
    first.delete();
    second.delete();
  });
  first.modNs(1);
  second.modNs(2);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['first']);
  t.false(second.pending);
  // and it can be re-armed afterwards
  second.modNs(1);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['first', 'second']);
});

test('timer: host-clock timer runs when expired', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  const timer = ctx.timer('host', SCALE_MS, () => {
    runs++;
  });
  t.teardown(() => timer.delete());
  timer.mod(Math.floor(clockNs('host') / SCALE_MS) - 1000);
  t.true(ctx.poll(false));
  t.is(runs, 1);
});

test('timer: an unexpired timer armed from a callback of an expired one waits', (t) => {
  const ctx = fresh(t);
  const later = counting(t, ctx, SCALE_MS);
  const first = ctx.timer('realtime', SCALE_NS, () => {
    later.timer.mod(nowMs() + 3_600_000);
  });
  t.teardown(() => first.delete());
  first.modNs(1);
  t.true(ctx.poll(false));
  t.is(later.runs(), 0);
  t.true(later.timer.pending);
  later.timer.del();
});
