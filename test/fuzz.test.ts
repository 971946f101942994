/*
 * fuzz.test.ts — a short budget of the model-based fuzzer (test/fuzz/),
 * every fd monitor under both drivers, and issue #13's defects as fixed
 * seeds.  `npm run fuzz -- --ops N --seed S` runs it long.
 *
 * FUZZ_SEED picks the first seed (default: fixed, so a failure reproduces);
 * FUZZ_MS the budget per monitor and driver; the block I/O and coroutine
 * campaign (io.ts) gets 2/5 of it per engine and driver, so that the file
 * stays near 30 s in all.
 */
import test from 'ava';
import { DRIVERS, FDMONS, formatTrace } from './fuzz/ops';
import { busyPollRearm, externalPaused, externalPausedFuzzed, pausedWhileAttached, reattach } from './fuzz/regressions';
import { campaign, formatFailure, generate, runTrace, shrink, type Failure } from './fuzz/run';
import type { Op } from './fuzz/ops';
import { stopWatchdog } from './fuzz/watchdog';
import { ENGINES, IO_DRIVERS, campaignIo, formatIoFailure } from './fuzz/io';

const SEED = Number(process.env.FUZZ_SEED ?? 20261207);
const BUDGET_MS = Number(process.env.FUZZ_MS ?? 2500);
const IO_BUDGET_MS = Math.round(BUDGET_MS * 0.4);

test.after.always(() => stopWatchdog());

for (const driver of DRIVERS) {
  for (const fdmon of FDMONS) {
    test.serial(`fuzz [${fdmon}, ${driver}]: random traces agree with the model (${BUDGET_MS} ms from seed ${SEED})`, (t) => {
      const r = campaign({ fdmon, driver }, { seed: SEED, totalOps: Infinity, budgetMs: BUDGET_MS, shrinkMs: 15_000 });
      t.log(`${r.ops} ops in ${r.runs} traces, ${Math.round((r.ops / Math.max(r.ms, 1)) * 1000)} ops/s`);
      t.true(r.ops > 0);
      t.deepEqual(r.failures.map((f) => f.report), []);
    });
  }
}

for (const engine of ENGINES) {
  for (const driver of IO_DRIVERS) {
    test.serial(`fuzz block I/O and coroutines [${engine}, ${driver}]: completions, data and spawn results agree with the shadow file (${IO_BUDGET_MS} ms from seed ${SEED})`, async (t) => {
      const r = await campaignIo({ seed: SEED, totalOps: Infinity, budgetMs: IO_BUDGET_MS, engine, driver });
      t.log(`${r.ops} ops in ${r.runs} traces`);
      t.true(r.runs > 0);
      t.deepEqual(r.failures.map((f) => formatIoFailure(f, 150)), []);
    });
  }
}

for (const fdmon of FDMONS) {
  test.serial(`fuzz seed #13.1 [${fdmon}]: re-attaching keeps the fds polled`, (t) => {
    const f = runTrace(reattach, { fdmon, driver: 'gsource' });
    t.is(f && formatFailure(null, { fdmon, driver: 'gsource' }, reattach, f), null);
  });

  test.serial(`fuzz seed #13.2 [${fdmon}]: a non-external fd is dispatched while external handlers are paused`, (t) => {
    for (const trace of [externalPaused, externalPausedFuzzed]) {
      const f = runTrace(trace, { fdmon, driver: 'poll' });
      t.is(f && formatFailure(null, { fdmon, driver: 'poll' }, trace, f), null);
    }
  });

  test.serial(`fuzz seed #13.3 [${fdmon}]: a polled fd is read by the poll(true) after a handler is registered again`, (t) => {
    t.deepEqual(busyPollRearm(fdmon, 20), []);
  });
}

// Found by this fuzzer: GLib zeroed the revents of a node already on the
// ready list when a BH paused external handlers (epoll and io_uring).
for (const fdmon of FDMONS) {
  test.serial(`fuzz seed [${fdmon}]: attached, a BH pausing external handlers does not make aio_poll skip a ready non-external fd`, (t) => {
    t.deepEqual(pausedWhileAttached(fdmon), { ran: true, progress: true });
  });
}

test('fuzz: traces print as JS-like lines', (t) => {
  const text = formatTrace(externalPaused.slice(0, 3), 'io_uring', 'poll');
  t.regex(text, /let ctx = new AioContext\(\{ fdmon: 'io_uring' \}\);/);
  t.regex(text, /ctx\.setFdHandler\(p0, \{ read: \(\) => \{\n {2}readUpTo\(p0, 1\);/);
  t.regex(text, /ctx\.disableExternal\(\);$/);
});

test('fuzz: the shrinker keeps only what the failure needs, inside callbacks too', (t) => {
  // A stand-in for a divergence: "bh 3 is made with a callback that
  // schedules bh 5, and a later top-level op schedules bh 3".
  const fails = (ops: readonly Op[]): Failure | null => {
    const made = ops.findIndex((op) => op.op === 'bhNew' && op.bh === 3 && op.cb.some((a) => a.op === 'bhSchedule' && a.bh === 5));
    const at = ops.findIndex((op, i) => i > made && op.op === 'bhSchedule' && op.bh === 3);
    return made >= 0 && at >= 0 ? { message: 'stand-in', at } : null;
  };
  const noise = generate(SEED, 120, 'poll').filter((op) => !('bh' in op && op.bh === 3));
  const ops: Op[] = [
    ...noise.slice(0, 60),
    { op: 'bhNew', bh: 3, cb: [{ op: 'notify' }, { op: 'bhSchedule', bh: 5 }, { op: 'poll', blocking: false }, { op: 'throw' }] },
    ...noise.slice(60),
    { op: 'bhSchedule', bh: 3 },
    ...noise.slice(0, 10),
  ];
  const small = shrink(ops, { fdmon: 'poll', driver: 'poll' }, 10_000, fails);
  t.deepEqual(small.ops, [
    { op: 'bhNew', bh: 3, cb: [{ op: 'bhSchedule', bh: 5 }] },
    { op: 'bhSchedule', bh: 3 },
  ]);
  t.is(small.failure.at, 1);
});
