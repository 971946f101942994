/*
 * Lifetimes: the leak warning on close(), handles of a closed context, and GC
 * safety — the context keeps its BHs, timers and handlers (and their JS
 * callbacks) alive, and an attached context keeps running after JS drops it.
 * Run with --expose-gc (the ava config passes it); without it the GC tests
 * still run the loop but log that no collection was forced.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AioContext, EventNotifier, MainContext, SCALE_MS, SCALE_NS, pipe } from 'aiocontext';
import {
  captureWarnings,
  closeFds,
  drain,
  drainMain,
  getGc,
  readAvailable,
  throwsAio,
  writeBytes,
} from './helpers/loop.js';

const noop = (): void => {};

async function collectGarbage(t: ExecutionContext): Promise<boolean> {
  const gc = getGc();
  if (gc === undefined) {
    t.log('global.gc is not available (run node with --expose-gc): GC was not forced');
    return false;
  }
  for (let i = 0; i < 4; i++) {
    gc();
    // let finalizers that Node defers to the next turn run
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return true;
}

/* -------------------------------------------------------- leak warning */
// Serial: process warnings are global, and ava runs the async tests of a file
// concurrently; serial tests run alone, before the others.

test.serial('lifetime: close() with undeleted BHs warns, naming each one', async (t) => {
  const ctx = new AioContext();
  ctx.bh(noop, { name: 'leaky-one' });
  const two = ctx.bh(noop, { name: 'leaky-two' });
  two.schedule();
  const gone = ctx.bh(noop, { name: 'deleted-before-close' });
  gone.delete();
  const freed = ctx.bh(noop, { name: 'deleted-and-freed' });
  freed.delete();
  drain(ctx);
  const warnings = await captureWarnings(() => ctx.close());
  const leaks = warnings.filter((w) => w.name === 'AioLeakWarning');
  t.true(leaks.length >= 1, `warnings: ${warnings.map((w) => `${w.name}: ${w.message}`).join(' | ')}`);
  const text = leaks.map((w) => w.message).join('\n');
  t.regex(text, /leaky-one/);
  t.regex(text, /leaky-two/);
  t.notRegex(text, /deleted-before-close/);
  t.notRegex(text, /deleted-and-freed/);
  t.true(ctx.closed);
});

test.serial('lifetime: the default BH name is "bh"', async (t) => {
  const ctx = new AioContext();
  ctx.bh(noop);
  const warnings = await captureWarnings(() => ctx.close());
  const leaks = warnings.filter((w) => w.name === 'AioLeakWarning');
  t.true(leaks.length >= 1);
  t.regex(leaks.map((w) => w.message).join('\n'), /\bbh\b/);
});

test.serial('lifetime: close() with every BH deleted emits no leak warning', async (t) => {
  const ctx = new AioContext();
  const a = ctx.bh(noop, { name: 'a' });
  const b = ctx.bh(noop, { name: 'b' });
  a.schedule();
  t.true(ctx.poll(false));
  a.delete();
  b.delete(); // deleted but not yet freed by a BH pass: still not a leak
  const warnings = await captureWarnings(() => ctx.close());
  t.deepEqual(
    warnings.filter((w) => w.name === 'AioLeakWarning').map((w) => w.message),
    [],
  );
});

test.serial('lifetime: close() warns only once, and a second close() is silent', async (t) => {
  const ctx = new AioContext();
  ctx.bh(noop, { name: 'once' });
  const first = await captureWarnings(() => ctx.close());
  const second = await captureWarnings(() => ctx.close());
  t.true(first.filter((w) => w.name === 'AioLeakWarning').length >= 1);
  t.is(second.filter((w) => w.name === 'AioLeakWarning').length, 0);
});

/* -------------------------------------------- handles of a closed context */

test.serial('lifetime: BottomHalf methods throw ERR_AIO_CLOSED after ctx.close(); delete() does nothing', async (t) => {
  const ctx = new AioContext();
  const bh = ctx.bh(noop, { name: 'orphan' });
  await captureWarnings(() => ctx.close()); // it leaks on purpose
  throwsAio(t, () => bh.schedule(), 'ERR_AIO_CLOSED', 'schedule');
  throwsAio(t, () => bh.cancel(), 'ERR_AIO_CLOSED', 'cancel');
  t.notThrows(() => bh.delete()); // cleanup order does not matter
  t.true(bh.deleted);
});

test('lifetime: Timer methods throw ERR_AIO_CLOSED after ctx.close(); delete() does nothing', (t) => {
  const ctx = new AioContext();
  const timer = ctx.timer('realtime', SCALE_MS, noop);
  timer.mod(1);
  ctx.close();
  throwsAio(t, () => timer.mod(1), 'ERR_AIO_CLOSED', 'mod');
  throwsAio(t, () => timer.modNs(1), 'ERR_AIO_CLOSED', 'modNs');
  throwsAio(t, () => timer.modAnticipate(1), 'ERR_AIO_CLOSED', 'modAnticipate');
  throwsAio(t, () => timer.del(), 'ERR_AIO_CLOSED', 'del');
  throwsAio(t, () => timer.expired(1), 'ERR_AIO_CLOSED', 'expired');
  t.notThrows(() => timer.delete()); // cleanup order does not matter
  t.false(timer.pending);
});

test('lifetime: a deleted BH or timer of a closed context also throws ERR_AIO_CLOSED', (t) => {
  const ctx = new AioContext();
  const bh = ctx.bh(noop);
  const timer = ctx.timer('realtime', SCALE_NS, noop);
  bh.delete();
  drain(ctx);
  ctx.close();
  throwsAio(t, () => bh.schedule(), 'ERR_AIO_CLOSED');
  throwsAio(t, () => timer.modNs(1), 'ERR_AIO_CLOSED');
});

test('lifetime: close() releases fd handlers; the fd itself stays open', (t) => {
  const ctx = new AioContext();
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const n = new EventNotifier();
  t.teardown(() => n.close());
  ctx.setFdHandler(r, { read: noop });
  ctx.setEventNotifier(n, { read: noop });
  ctx.close();
  writeBytes(w, 2);
  t.is(readAvailable(r), 2, 'close() does not close user fds');
  n.set();
  t.true(n.testAndClear(), 'nor EventNotifiers');
});

test('lifetime: closing an attached context detaches it', (t) => {
  const mc = new MainContext();
  const ctx = new AioContext();
  let runs = 0;
  const bh = ctx.bh(() => {
    runs++;
  });
  ctx.attach(mc);
  drainMain(mc);
  bh.schedule();
  bh.delete();
  ctx.close();
  t.false(mc.iteration(false));
  t.false(mc.iteration(false));
  t.is(runs, 0);
});

test('lifetime: closing one context leaves others working', (t) => {
  const a = new AioContext();
  const b = new AioContext();
  t.teardown(() => b.close());
  let runs = 0;
  const bh = b.bh(() => {
    runs++;
  });
  a.close();
  bh.schedule();
  t.true(b.poll(false));
  t.is(runs, 1);
  bh.delete();
  drain(b);
});

test('lifetime: many contexts created and closed', (t) => {
  let runs = 0;
  for (let i = 0; i < 200; i++) {
    const ctx = new AioContext();
    const bh = ctx.bh(() => {
      runs++;
      bh.delete();
    });
    bh.schedule();
    ctx.poll(false);
    ctx.close();
  }
  t.is(runs, 200);
});

/* ------------------------------------------------------------- GC safety */

test('lifetime: the context keeps its BHs, timers and handlers alive without JS references', async (t) => {
  const ctx = new AioContext();
  t.teardown(() => ctx.close());
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const ran = { bh: 0, oneshot: 0, timer: 0, fd: 0, notifier: 0 };
  const notifier = new EventNotifier(true);
  t.teardown(() => notifier.close());

  // Everything below is reachable from JS only through the context.
  ((): void => {
    const bh = ctx.bh(() => {
      ran.bh++;
      bh.delete();
    });
    bh.schedule();
    ctx.scheduleOneshot(() => {
      ran.oneshot++;
    });
    const timer = ctx.timer('realtime', SCALE_NS, () => {
      ran.timer++;
      timer.delete();
    });
    timer.modNs(1);
    ctx.setFdHandler(r, {
      read: () => {
        ran.fd++;
        readAvailable(r);
        ctx.setFdHandler(r, null);
      },
    });
    ctx.setEventNotifier(notifier, {
      read: (e) => {
        ran.notifier++;
        e.testAndClear();
      },
    });
  })();
  writeBytes(w);

  const forced = await collectGarbage(t);
  t.true(ctx.poll(false));
  t.deepEqual(ran, { bh: 1, oneshot: 1, timer: 1, fd: 1, notifier: 1 });
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
  t.is(ctx.stats.timers, 0);
  t.is(ctx.stats.handlers, 1, 'only the event notifier is left');
  ctx.setEventNotifier(notifier, null);
  t.log(forced ? 'GC was forced' : 'GC not forced');
});

test('lifetime: an unscheduled BH whose handle was dropped can be scheduled by its own timer later', async (t) => {
  const ctx = new AioContext();
  t.teardown(() => ctx.close());
  let bhRuns = 0;
  ((): void => {
    const bh = ctx.bh(() => {
      bhRuns++;
      bh.delete();
    });
    const timer = ctx.timer('realtime', SCALE_NS, () => {
      bh.schedule();
      timer.delete();
    });
    timer.modNs(1);
  })();
  await collectGarbage(t);
  t.true(ctx.poll(false)); // timer schedules the BH
  t.true(ctx.poll(false)); // BH runs
  t.is(bhRuns, 1);
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
  t.is(ctx.stats.timers, 0);
});

test('lifetime: a context attached to a MainContext and dropped by JS keeps running', async (t) => {
  const mc = new MainContext();
  let runs = 0;
  let finished = false;
  ((): void => {
    const ctx = new AioContext();
    ctx.attach(mc);
    const bh = ctx.bh(() => {
      runs++;
      if (runs < 5) {
        bh.schedule();
      } else {
        bh.delete();
        finished = true;
      }
    });
    bh.schedule();
  })();
  await collectGarbage(t);
  let iterations = 0;
  while (!finished && iterations < 100) {
    mc.iteration(false);
    iterations++;
    if (iterations === 2) await collectGarbage(t); // and again while it runs
  }
  t.is(runs, 5);
  t.true(finished);
  drainMain(mc);
});

test('lifetime: a dropped, detached context can be collected without side effects', async (t) => {
  const mc = new MainContext();
  let runs = 0;
  ((): void => {
    const ctx = new AioContext();
    const bh = ctx.bh(() => {
      runs++;
    });
    ctx.attach(mc);
    ctx.detach();
    bh.delete();
  })();
  await collectGarbage(t);
  t.false(mc.iteration(false));
  t.is(runs, 0);
  // the process is still healthy: a new context works
  const ctx = new AioContext();
  t.teardown(() => ctx.close());
  ctx.scheduleOneshot(() => {
    runs++;
  });
  t.true(ctx.poll(false));
  t.is(runs, 1);
});

test('lifetime: BottomHalf and Timer handles survive GC while the context lives', async (t) => {
  const ctx = new AioContext();
  t.teardown(() => ctx.close());
  let runs = 0;
  const bh = ctx.bh(() => {
    runs++;
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    runs++;
  });
  // churn some garbage, then collect
  for (let i = 0; i < 1000; i++) ctx.bh(noop).delete();
  await collectGarbage(t);
  drain(ctx);
  bh.schedule();
  timer.modNs(1);
  t.true(ctx.poll(false));
  t.is(runs, 2);
  bh.delete();
  timer.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
});

test("lifetime: a fast handle kept after its native object was collected makes the fast function throw, not crash", async (t) => {
  // native/addon/fast-method.h: the handle's link reads null once the
  // object is destroyed.  The addon's classes, reached as anyone who
  // requires the .node file could.
  const file = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'Release', 'aiocontext.node');
  const binding = createRequire(import.meta.url)(file) as {
    Context: {
      new (name: string, fdmon: number): { fastHandle: number; bh(cb: () => void, name: string): { fastHandle: number }; close(): string[] };
      fastPoll(h: number, blocking: boolean): unknown;
    };
    BottomHalf: { fastSchedule(h: number): unknown };
    MainContext: { new (isDefault: boolean): { fastHandle: number }; fastIteration(h: number, mayBlock: boolean): unknown };
  };
  const handles = ((): { ctx: number; bh: number; main: number } => {
    const native = new binding.Context('fast-gone', 0);
    const bh = native.bh(noop, 'fast-gone-bh').fastHandle;
    native.close();
    return { ctx: native.fastHandle, bh, main: new binding.MainContext(false).fastHandle };
  })();
  if (!(await collectGarbage(t))) {
    t.pass('GC not forced: nothing to check');
    return;
  }
  const gone = { instanceOf: TypeError, message: 'the native object of this handle is gone' };
  t.throws(() => binding.Context.fastPoll(handles.ctx, false), gone);
  t.throws(() => binding.BottomHalf.fastSchedule(handles.bh), gone);
  t.throws(() => binding.MainContext.fastIteration(handles.main, false), gone);
  // A new object may reuse a slot: never under an old handle.
  const again = new binding.Context('fast-again', 0);
  t.not(again.fastHandle, handles.ctx);
  t.throws(() => binding.Context.fastPoll(handles.ctx, false), gone);
  t.false(binding.Context.fastPoll(again.fastHandle, false) as boolean);
  again.close();
});
