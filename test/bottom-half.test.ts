/*
 * Bottom halves: order within a slice, slices across passes and nested polls,
 * schedule/cancel/delete semantics, oneshots, names, stats and computeTimeout.
 * SEMANTICS.md §2.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, AioError, BottomHalf, SCALE_NS } from 'aiocontext';
import { captureWarnings, drain, openContext, pollUntil, watchdog } from './helpers/loop.js';

/** Creates named BHs that append their name to `order`. */
function recorders(ctx: AioContext, order: string[], names: string[]): Map<string, BottomHalf> {
  const bhs = new Map<string, BottomHalf>();
  for (const name of names) {
    bhs.set(
      name,
      ctx.bh(
        () => {
          order.push(name);
        },
        { name },
      ),
    );
  }
  return bhs;
}

function get(bhs: Map<string, BottomHalf>, name: string): BottomHalf {
  const bh = bhs.get(name);
  if (bh === undefined) throw new Error(`no BH ${name}`);
  return bh;
}

function deleteAll(ctx: AioContext, bhs: Iterable<BottomHalf>): void {
  for (const bh of bhs) if (!bh.deleted) bh.delete();
  drain(ctx);
}

function fresh(t: ExecutionContext): AioContext {
  const ctx = openContext(t);
  drain(ctx);
  return ctx;
}

test('bottom-half: BHs scheduled in one slice run LIFO (C, B, A)', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const bhs = recorders(ctx, order, ['A', 'B', 'C']);
  get(bhs, 'A').schedule();
  get(bhs, 'B').schedule();
  get(bhs, 'C').schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['C', 'B', 'A']);
  t.false(ctx.poll(false));
  t.deepEqual(order, ['C', 'B', 'A']);
  deleteAll(ctx, bhs.values());
});

test('bottom-half: order follows scheduling, not creation', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const bhs = recorders(ctx, order, ['X', 'Y', 'Z']);
  get(bhs, 'Z').schedule();
  get(bhs, 'X').schedule();
  get(bhs, 'Y').schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['Y', 'X', 'Z']);
  deleteAll(ctx, bhs.values());
});

test('bottom-half: rescheduling a pending BH keeps its first position and runs it once', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const bhs = recorders(ctx, order, ['A', 'B', 'C']);
  get(bhs, 'A').schedule();
  get(bhs, 'B').schedule();
  get(bhs, 'C').schedule();
  get(bhs, 'A').schedule();
  get(bhs, 'A').schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['C', 'B', 'A']);
  t.false(ctx.poll(false));
  deleteAll(ctx, bhs.values());
});

test('bottom-half: schedule twice = one run', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
  });
  bh.schedule();
  bh.schedule();
  t.true(bh.scheduled);
  t.true(ctx.poll(false));
  t.is(n, 1);
  t.false(bh.scheduled);
  t.false(ctx.poll(false));
  t.is(n, 1);
  bh.delete();
});

test('bottom-half: a BH scheduled during a pass runs in the next pass', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const second = ctx.bh(() => {
    order.push('second');
  });
  const first = ctx.bh(() => {
    order.push('first');
    second.schedule();
  });
  first.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['first']);
  t.true(second.scheduled);
  t.is(ctx.computeTimeout(), 0);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['first', 'second']);
  t.false(ctx.poll(false));
  deleteAll(ctx, [first, second]);
});

test('bottom-half: a BH scheduled by a timer or fd callback waits for the next poll', (t) => {
  const ctx = fresh(t);
  let ran = 0;
  const bh = ctx.bh(() => {
    ran++;
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => bh.schedule());
  timer.modNs(1);
  t.true(ctx.poll(false));
  t.is(ran, 0, 'BHs run before timers, so this one waits');
  t.true(bh.scheduled);
  t.true(ctx.poll(false));
  t.is(ran, 1);
  t.false(ctx.poll(false));
  timer.delete();
  bh.delete();
});

test('bottom-half: a self-rescheduling BH cannot starve the loop (one run per poll)', (t) => {
  const ctx = fresh(t);
  let runs = 0;
  let timerRuns = 0;
  const greedy = ctx.bh(() => {
    runs++;
    greedy.schedule();
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    timerRuns++;
  });
  greedy.schedule();
  timer.modNs(1);
  for (let i = 1; i <= 5; i++) {
    t.true(ctx.poll(false));
    t.is(runs, i);
  }
  t.is(timerRuns, 1, 'the expired timer ran in the first poll despite the greedy BH');
  greedy.delete();
  t.false(ctx.poll(false));
  t.is(runs, 5);
  timer.delete();
  t.is(ctx.stats.bhs, 0);
});

test('bottom-half: nested poll() runs the rest of the enclosing slice, then new BHs', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  let nested: boolean | undefined;
  const bhs = recorders(ctx, order, ['A', 'B', 'D']);
  const c = ctx.bh(() => {
    order.push('C>');
    get(bhs, 'D').schedule();
    nested = ctx.poll(false);
    order.push('<C');
  });
  get(bhs, 'A').schedule();
  get(bhs, 'B').schedule();
  c.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['C>', 'B', 'A', 'D', '<C']);
  t.true(nested);
  t.false(ctx.poll(false), 'nothing left for the outer pass');
  t.deepEqual(order, ['C>', 'B', 'A', 'D', '<C']);
  deleteAll(ctx, [...bhs.values(), c]);
});

test('bottom-half: nested poll(true) does not block while the enclosing slice has BHs', (t) => {
  const ctx = fresh(t);
  const wd = watchdog(ctx, 10_000);
  t.teardown(() => wd.dispose());
  drain(ctx);
  const order: string[] = [];
  let nested: boolean | undefined;
  const bhs = recorders(ctx, order, ['A', 'B']);
  const c = ctx.bh(() => {
    order.push('C>');
    nested = ctx.poll(true);
    order.push('<C');
  });
  get(bhs, 'A').schedule();
  get(bhs, 'B').schedule();
  c.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['C>', 'B', 'A', '<C']);
  t.true(nested);
  t.false(wd.fired, 'computeTimeout must see the scheduled BHs of the enclosing slice');
  deleteAll(ctx, [...bhs.values(), c]);
});

test('bottom-half: cancel clears scheduled and the BH does not run', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
  });
  bh.schedule();
  t.true(bh.scheduled);
  bh.cancel();
  t.false(bh.scheduled);
  t.is(ctx.computeTimeout(), -1);
  t.false(ctx.poll(false));
  t.is(n, 0);
  // it can be scheduled again
  bh.schedule();
  t.true(ctx.poll(false));
  t.is(n, 1);
  // cancel of an idle BH is harmless
  bh.cancel();
  t.false(ctx.poll(false));
  t.is(n, 1);
  bh.delete();
});

test('bottom-half: a BH cancelled by an earlier BH of the same slice does not run', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const victim = ctx.bh(() => {
    order.push('victim');
  });
  const killer = ctx.bh(() => {
    order.push('killer');
    victim.cancel();
  });
  victim.schedule();
  killer.schedule(); // LIFO: killer runs first
  t.true(ctx.poll(false));
  t.deepEqual(order, ['killer']);
  t.false(ctx.poll(false));
  deleteAll(ctx, [victim, killer]);
});

test('bottom-half: a BH deleted by an earlier BH of the same slice is never called', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const victim = ctx.bh(() => {
    order.push('victim');
  });
  const killer = ctx.bh(() => {
    order.push('killer');
    victim.delete();
  });
  victim.schedule();
  killer.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['killer']);
  t.true(victim.deleted);
  t.false(ctx.poll(false));
  t.deepEqual(order, ['killer']);
  killer.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
});

test('bottom-half: delete after schedule = never called, freed by the next pass', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
  });
  bh.schedule();
  bh.delete();
  t.true(bh.deleted);
  t.is(ctx.stats.bhs, 1, 'not freed until the loop runs');
  t.false(ctx.poll(false));
  t.is(n, 0);
  t.is(ctx.stats.bhs, 0);
  t.false(ctx.poll(false));
  t.is(n, 0);
});

test('bottom-half: schedule after delete never runs the callback', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
  });
  bh.delete();
  try {
    bh.schedule(); // DELETED wins (QEMU); the binding may also refuse
  } catch (err) {
    t.true(err instanceof AioError, `unexpected ${String(err)}`);
  }
  t.false(ctx.poll(false));
  t.false(ctx.poll(false));
  t.is(n, 0);
  t.is(ctx.stats.bhs, 0);
});

test('bottom-half: delete from its own callback', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
    bh.delete();
  });
  bh.schedule();
  t.is(ctx.stats.bhs, 1);
  t.true(ctx.poll(false));
  t.is(n, 1);
  t.true(bh.deleted);
  t.is(ctx.stats.bhs, 1, 'freed by the next BH pass, not inside its own callback');
  t.false(ctx.poll(false), 'freeing a deleted BH is not progress');
  t.is(n, 1);
  t.is(ctx.stats.bhs, 0);
});

test('bottom-half: delete then schedule from its own callback still never runs again', (t) => {
  const ctx = fresh(t);
  let n = 0;
  let refused = 0;
  const bh = ctx.bh(() => {
    n++;
    bh.delete();
    try {
      bh.schedule();
    } catch (err) {
      if (!(err instanceof AioError)) throw err;
      refused++;
    }
  });
  bh.schedule();
  t.true(ctx.poll(false));
  t.is(n, 1);
  t.false(ctx.poll(false));
  t.false(ctx.poll(false));
  t.is(n, 1);
  t.is(ctx.stats.bhs, 0);
  t.log(`schedule() after delete() ${refused ? 'threw AioError' : 'was ignored'}`);
});

test('bottom-half: scheduled and deleted getters', (t) => {
  const ctx = fresh(t);
  const bh = ctx.bh(() => {});
  t.false(bh.scheduled);
  t.false(bh.deleted);
  bh.schedule();
  t.true(bh.scheduled);
  t.false(bh.deleted);
  t.true(ctx.poll(false));
  t.false(bh.scheduled);
  bh.schedule();
  bh.cancel();
  t.false(bh.scheduled);
  bh.delete();
  t.true(bh.deleted);
  drain(ctx);
  t.true(bh.deleted);
});

test('bottom-half: oneshot runs exactly once and returns no handle', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const ret: unknown = ctx.scheduleOneshot(() => {
    n++;
  });
  t.is(ret, undefined, 'no handle, so it cannot be cancelled');
  t.is(ctx.stats.bhs, 1, 'a pending oneshot counts');
  t.is(ctx.computeTimeout(), 0);
  t.is(n, 0);
  t.true(ctx.poll(false));
  t.is(n, 1);
  t.is(ctx.stats.bhs, 0, 'freed after running');
  t.false(ctx.poll(false));
  t.is(n, 1);
  t.is(ctx.computeTimeout(), -1);
});

test('bottom-half: oneshots share the LIFO order with ordinary BHs', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const bhs = recorders(ctx, order, ['A', 'C']);
  get(bhs, 'A').schedule();
  ctx.scheduleOneshot(() => {
    order.push('oneshot');
  });
  get(bhs, 'C').schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['C', 'oneshot', 'A']);
  deleteAll(ctx, bhs.values());
});

test('bottom-half: a oneshot scheduled from a BH runs in the next pass', (t) => {
  const ctx = fresh(t);
  const order: string[] = [];
  const bh = ctx.bh(() => {
    order.push('bh');
    ctx.scheduleOneshot(() => {
      order.push('oneshot');
    });
  });
  bh.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['bh']);
  t.is(ctx.stats.bhs, 2);
  t.true(ctx.poll(false));
  t.deepEqual(order, ['bh', 'oneshot']);
  t.is(ctx.stats.bhs, 1);
  bh.delete();
  drain(ctx);
});

test('bottom-half: many oneshots each run once', (t) => {
  const ctx = fresh(t);
  const seen: number[] = [];
  for (let i = 0; i < 100; i++) {
    ctx.scheduleOneshot(() => {
      seen.push(i);
    });
  }
  t.is(ctx.stats.bhs, 100);
  t.true(ctx.poll(false));
  t.is(seen.length, 100);
  t.deepEqual(seen, Array.from({ length: 100 }, (_, i) => 99 - i), 'LIFO');
  t.is(ctx.stats.bhs, 0);
  t.false(ctx.poll(false));
});

test.serial('bottom-half: names are accepted and reported in the leak warning', async (t) => {
  const ctx = new AioContext();
  const named = ctx.bh(() => {}, { name: 'disk-io-completion' });
  const unnamed = ctx.bh(() => {});
  const gone = ctx.bh(() => {}, { name: 'properly-deleted' });
  gone.delete();
  t.false(named.deleted);
  t.false(unnamed.deleted);
  const warnings = await captureWarnings(() => ctx.close());
  const leaks = warnings.filter((w) => w.name === 'AioLeakWarning');
  t.true(leaks.length >= 1);
  const text = leaks.map((w) => w.message).join('\n');
  t.regex(text, /disk-io-completion/);
  t.regex(text, /\bbh\b/, 'default name is "bh"');
  t.notRegex(text, /properly-deleted/);
});

test('bottom-half: stats.bhs counts BHs that exist', (t) => {
  const ctx = fresh(t);
  t.is(ctx.stats.bhs, 0);
  const a = ctx.bh(() => {});
  t.is(ctx.stats.bhs, 1);
  const b = ctx.bh(() => {});
  t.is(ctx.stats.bhs, 2);
  a.schedule();
  t.is(ctx.stats.bhs, 2);
  t.true(ctx.poll(false));
  t.is(ctx.stats.bhs, 2, 'running a BH does not free it');
  a.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 1);
  b.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
});

test('bottom-half: computeTimeout is 0 with a scheduled BH and -1 with nothing', (t) => {
  const ctx = fresh(t);
  t.is(ctx.computeTimeout(), -1);
  const bh = ctx.bh(() => {});
  t.is(ctx.computeTimeout(), -1, 'an idle, unscheduled BH does not count');
  bh.schedule();
  t.is(ctx.computeTimeout(), 0);
  t.true(ctx.poll(false));
  t.is(ctx.computeTimeout(), -1);
  bh.schedule();
  bh.cancel();
  t.is(ctx.computeTimeout(), -1);
  bh.schedule();
  bh.delete();
  t.is(ctx.computeTimeout(), -1, 'a deleted BH does not count');
  drain(ctx);
  t.is(ctx.computeTimeout(), -1);
});

test('bottom-half: poll(true) returns at once when a BH is scheduled', (t) => {
  const ctx = fresh(t);
  let n = 0;
  const bh = ctx.bh(() => {
    n++;
  });
  bh.schedule();
  const calls = pollUntil(ctx, () => n === 1);
  t.is(calls, 1);
  bh.delete();
});
