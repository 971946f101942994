/*
 * Living inside GTK: an AioContext attached to a GMainContext is run by
 * node-gtk's loops (Gtk.main(), GLib.MainLoop.run(), GLib.MainContext's
 * iteration()), next to node-gtk's own sources at the priorities given to
 * attach(); node-gtk sees our GSource (findSourceById, its name); a nested
 * ctx.poll() works from a GTK-dispatched callback; and MainContext converts
 * to and from node-gtk's GLib.MainContext (fromGtk / toGtk).
 *
 * What a callback throws under a foreign loop is tested in child processes
 * (test/gtk-exceptions.test.ts): it must reach process 'uncaughtException',
 * which ava treats as a failure of the whole file.
 *
 * Every test is serial: node-gtk's loops are process-wide (Gtk.main() is
 * one loop stack), and so is the default GMainContext.  Gtk.init() needs an
 * X display: $DISPLAY, or a private Xvfb (helpers/display.ts).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, MainContext, pipe } from 'aiocontext';
import { closeFds, openContext, readAvailable, sleepMs, writeBytes } from './helpers/loop.js';
import { GLib, drainGtk, ensureDisplay, getGtk, loopGuard, nowMs, runBlocking, timerIn } from './helpers/gtk.js';

type GtkMainContext = InstanceType<typeof GLib.MainContext>;

/** A non-blocking pipe closed when the test ends (its handler removed first). */
function openPipe(t: ExecutionContext, ctx: AioContext): [number, number] {
  const [r, w] = pipe();
  t.teardown(() => {
    if (!ctx.closed) ctx.setFdHandler(r, null);
    closeFds(r, w);
  });
  return [r, w];
}

/**
 * node-gtk iteration(false) on @mc until @cond holds (at most @limit
 * iterations, sleeping @sleep ms between idle ones so timers can expire).
 */
function iterateGtkUntil(mc: GtkMainContext, cond: () => boolean, limit = 2_000): number {
  let n = 0;
  while (!cond()) {
    if (++n > limit) throw new Error(`iterateGtkUntil: condition still false after ${limit} iterations`);
    if (!mc.iteration(false)) sleepMs(1);
  }
  return n;
}

test.before(async () => {
  await ensureDisplay(); // $DISPLAY, or a private Xvfb
  getGtk(); // Gtk.init()
});

/* ------------------------------------------------------------- Gtk.main() */

test.serial('Gtk.main() runs BHs, fd handlers and timers of a context on the default GMainContext; a BH quits it', async (t) => {
  const Gtk = getGtk();
  const ctx = openContext(t, { name: 'gtk-main' });
  ctx.attach();
  const [r, w] = openPipe(t, ctx);
  const log: string[] = [];

  const quit = ctx.bh(() => {
    log.push('quit');
    Gtk.mainQuit();
  });
  const first = ctx.bh(() => log.push('bh'));
  ctx.setFdHandler(r, {
    read: () => {
      const n = readAvailable(r);
      log.push(`read:${n}`);
      if (n === 2) quit.schedule();
    },
  });
  const timer = timerIn(ctx, 20, () => {
    log.push('timer');
    writeBytes(w, 2);
  });
  writeBytes(w, 1);
  first.schedule();

  const guard = loopGuard(() => Gtk.mainQuit());
  await runBlocking(() => {
    Gtk.main();
    log.push('main returned');
  });
  guard.cancel();

  t.false(guard.fired, 'the loop was quit by our BH, not by the guard');
  t.deepEqual(log, ['bh', 'read:1', 'timer', 'read:2', 'quit', 'main returned']);
  t.is(Gtk.mainLevel(), 0);
  t.false(quit.scheduled);
  t.false(timer.pending);
  quit.delete();
  first.delete();
  timer.delete();
});

test.serial('Gtk.main(): microtasks and nextTicks queued by a callback run before the next callback', async (t) => {
  const Gtk = getGtk();
  const ctx = openContext(t, { name: 'gtk-microtasks' });
  ctx.attach();
  const log: string[] = [];

  ctx.scheduleOneshot(() => {
    log.push('bh1');
    void Promise.resolve().then(() => log.push('promise'));
    process.nextTick(() => log.push('tick'));
    ctx.scheduleOneshot(() => {
      log.push('bh2');
      Gtk.mainQuit();
    });
  });
  const guard = loopGuard(() => Gtk.mainQuit());
  await runBlocking(() => Gtk.main());
  guard.cancel();

  t.false(guard.fired);
  t.deepEqual(log, ['bh1', 'tick', 'promise', 'bh2']);
});

/* ------------------------------------------------------- GLib.MainLoop.run() */

test.serial("node-gtk's GLib.MainLoop.run() runs them; a re-armed timer quits it after 3 ticks", async (t) => {
  const ctx = openContext(t, { name: 'main-loop' });
  ctx.attach();
  const [r, w] = openPipe(t, ctx);
  const loop = new GLib.MainLoop(null, false);
  const log: string[] = [];

  ctx.setFdHandler(r, { read: () => log.push(`read:${readAvailable(r)}`) });
  let ticks = 0;
  const timer = timerIn(ctx, 5, () => {
    log.push(`tick${++ticks}`);
    if (ticks < 3) {
      timer.mod(nowMs() + 5);
    } else {
      loop.quit();
    }
  });
  ctx.scheduleOneshot(() => log.push('oneshot'));
  writeBytes(w, 3);

  const guard = loopGuard(() => loop.quit());
  await runBlocking(() => {
    loop.run();
    log.push('run returned');
  });
  guard.cancel();

  t.false(guard.fired);
  t.false(loop.isRunning());
  t.deepEqual(log, ['oneshot', 'read:3', 'tick1', 'tick2', 'tick3', 'run returned']);
  timer.delete();
});

/* ------------------------------------------- GLib.MainContext.iteration() */

test.serial("node-gtk's GLib.MainContext.default().iteration(): one iteration dispatches BHs, then fd handlers, then timers", (t) => {
  const ctx = openContext(t, { name: 'iteration' });
  ctx.attach();
  const [r, w] = openPipe(t, ctx);
  const gtkDefault = GLib.MainContext.default();
  const log: string[] = [];

  ctx.setFdHandler(r, { read: () => log.push(`read:${readAvailable(r)}`) });
  const timer = timerIn(ctx, 1, () => log.push('timer'));
  const bh = ctx.bh(() => log.push('bh'));
  bh.schedule();
  writeBytes(w, 1);
  sleepMs(5); // the timer has expired

  t.true(gtkDefault.iteration(false));
  t.deepEqual(log, ['bh', 'read:1', 'timer']);

  // A blocking iteration wakes up for a timer; nothing runs twice.
  log.length = 0;
  const late = timerIn(ctx, 15, () => log.push('late'));
  const guard = loopGuard(() => gtkDefault.wakeup());
  let iterations = 0;
  while (log.length === 0 && !guard.fired) {
    gtkDefault.iteration(true);
    iterations++;
  }
  guard.cancel();
  t.deepEqual(log, ['late']);
  t.true(iterations >= 1);
  t.false(bh.scheduled);
  bh.delete();
  timer.delete();
  late.delete();
});

/* ---------------------------------------------------------------- priorities */

test.serial('priority: a higher-priority node-gtk idle starves our lower-priority source until it stops', (t) => {
  const ctx = openContext(t, { name: 'low' });
  const id = ctx.attach(MainContext.default(), { priority: GLib.PRIORITY_DEFAULT_IDLE });
  const gtkDefault = GLib.MainContext.default();
  t.is(gtkDefault.findSourceById(id)?.getPriority(), GLib.PRIORITY_DEFAULT_IDLE);
  const log: string[] = [];

  let idles = 0;
  GLib.idleAdd(GLib.PRIORITY_DEFAULT, () => {
    log.push(`idle${++idles}`);
    return idles < 5;
  });
  ctx.scheduleOneshot(() => log.push('bh'));

  iterateGtkUntil(gtkDefault, () => log.includes('bh'));
  t.deepEqual(log, ['idle1', 'idle2', 'idle3', 'idle4', 'idle5', 'bh']);
});

test.serial('priority: our higher-priority source starves a lower-priority node-gtk idle while its BH re-schedules itself', (t) => {
  const ctx = openContext(t, { name: 'high' });
  const id = ctx.attach(MainContext.default(), { priority: GLib.PRIORITY_HIGH });
  const gtkDefault = GLib.MainContext.default();
  t.is(gtkDefault.findSourceById(id)?.getPriority(), GLib.PRIORITY_HIGH);
  const log: string[] = [];

  let runs = 0;
  const bh = ctx.bh(() => {
    log.push(`bh${++runs}`);
    if (runs < 5) bh.schedule();
  });
  GLib.idleAdd(GLib.PRIORITY_DEFAULT_IDLE, () => {
    log.push('idle');
    return false;
  });
  bh.schedule();

  iterateGtkUntil(gtkDefault, () => log.includes('idle'));
  t.deepEqual(log, ['bh1', 'bh2', 'bh3', 'bh4', 'bh5', 'idle']);
  bh.delete();
});

test.serial('priority: expired node-gtk timeouts and our timers dispatch by priority, equal priorities together', (t) => {
  const gtkDefault = GLib.MainContext.default();
  const log: string[] = [];

  // [our priority, GLib timeout's priority] -> order of the first iteration(s)
  const cases: Array<[number, number, string[][]]> = [
    [GLib.PRIORITY_DEFAULT, GLib.PRIORITY_HIGH, [['gtk-timeout'], ['aio-timer']]],
    [GLib.PRIORITY_HIGH, GLib.PRIORITY_DEFAULT, [['aio-timer'], ['gtk-timeout']]],
  ];
  for (const [ours, theirs, expected] of cases) {
    const ctx = new AioContext({ name: `timers-${ours}` });
    try {
      ctx.attach(MainContext.default(), { priority: ours });
      const timer = timerIn(ctx, 1, () => log.push('aio-timer'));
      GLib.timeoutAdd(theirs, 1, () => {
        log.push('gtk-timeout');
        return false;
      });
      sleepMs(10); // both expired
      const seen: string[][] = [];
      for (let i = 0; i < 50 && seen.flat().length < 2; i++) {
        log.length = 0;
        gtkDefault.iteration(false);
        if (log.length > 0) seen.push([...log]);
      }
      t.deepEqual(seen, expected, `ours ${ours}, theirs ${theirs}`);
      timer.delete();
    } finally {
      ctx.close();
    }
  }

  // Equal priorities: the same iteration dispatches both.
  const ctx = openContext(t, { name: 'timers-equal' });
  ctx.attach(MainContext.default(), { priority: GLib.PRIORITY_DEFAULT });
  const timer = timerIn(ctx, 1, () => log.push('aio-timer'));
  GLib.timeoutAdd(GLib.PRIORITY_DEFAULT, 1, () => {
    log.push('gtk-timeout');
    return false;
  });
  sleepMs(10);
  log.length = 0;
  for (let i = 0; i < 50 && log.length < 2; i++) gtkDefault.iteration(false);
  t.deepEqual([...log].sort(), ['aio-timer', 'gtk-timeout']);
  timer.delete();
});

/* ------------------------------------------------------------ findSourceById */

test.serial("node-gtk finds our GSource by ctx.sourceId, with our name and priority; not after detach()", (t) => {
  const gtkDefault = GLib.MainContext.default();
  const named = openContext(t, { name: 'disk-io' });
  const id = named.attach(MainContext.default(), { priority: 10 });
  t.is(named.sourceId, id);

  const source = gtkDefault.findSourceById(id);
  t.truthy(source);
  t.is(source?.getName(), 'disk-io');
  t.is(source?.getPriority(), 10);
  t.is(source?.getId(), id);
  t.false(source?.isDestroyed());

  const unnamed = openContext(t);
  t.is(gtkDefault.findSourceById(unnamed.attach())?.getName(), 'aio-context');

  // (node-gtk does not take a reference on what findSourceById() returns,
  // transfer none: `source` must not be used once the source is gone.)
  named.detach();
  t.is(named.sourceId, null);
  t.is(gtkDefault.findSourceById(id), null);

  // Re-attached: a new id, found again.
  const again = named.attach();
  t.not(again, id);
  t.is(gtkDefault.findSourceById(again)?.getName(), 'disk-io');
});

/* ------------------------------------------------------------- nested poll() */

test.serial('a nested ctx.poll() from a BH that Gtk.main() dispatched runs inner BHs, waits for a timer, and throws to its caller', async (t) => {
  const Gtk = getGtk();
  const ctx = openContext(t, { name: 'nested' });
  ctx.attach();
  const log: string[] = [];

  ctx.scheduleOneshot(() => {
    log.push('outer:start');
    ctx.scheduleOneshot(() => log.push('inner'));
    log.push(`poll:${ctx.poll(false)}`);

    let fired = false;
    const timer = timerIn(ctx, 10, () => {
      fired = true;
      log.push('timer');
    });
    while (!fired) ctx.poll(true);
    timer.delete();

    ctx.scheduleOneshot(() => {
      throw new Error('inner throws');
    });
    try {
      ctx.poll(false);
      log.push('no throw');
    } catch (err) {
      log.push(`caught:${(err as Error).message}`);
    }
    log.push('outer:end');
    Gtk.mainQuit();
  });

  const guard = loopGuard(() => Gtk.mainQuit());
  await runBlocking(() => Gtk.main());
  guard.cancel();

  t.false(guard.fired);
  t.deepEqual(log, ['outer:start', 'inner', 'poll:true', 'timer', 'caught:inner throws', 'outer:end']);
});

test.serial("a nested ctx.poll(true) from node-gtk's own idle callback under Gtk.main() waits for our fd handler", async (t) => {
  const Gtk = getGtk();
  const ctx = openContext(t, { name: 'nested-idle' });
  ctx.attach();
  const [r, w] = openPipe(t, ctx);
  const log: string[] = [];

  let got = 0;
  ctx.setFdHandler(r, {
    read: () => {
      got += readAvailable(r);
      log.push(`read:${got}`);
    },
  });
  GLib.idleAdd(GLib.PRIORITY_DEFAULT, () => {
    log.push('idle:start');
    const timer = timerIn(ctx, 10, () => writeBytes(w, 4));
    let polls = 0;
    while (got === 0) {
      ctx.poll(true);
      polls++;
    }
    timer.delete();
    log.push(`idle:end polls>=1:${polls >= 1}`);
    Gtk.mainQuit();
    return false;
  });

  const guard = loopGuard(() => Gtk.mainQuit());
  await runBlocking(() => Gtk.main());
  guard.cancel();

  t.false(guard.fired);
  t.deepEqual(log, ['idle:start', 'read:4', 'idle:end polls>=1:true']);
});

/* --------------------------------------------------------------- conversion */

test.serial('fromGtk(GLib.MainContext.default()) is MainContext.default(); toGtk() of it is node-gtk\'s default', (t) => {
  t.is(MainContext.fromGtk(GLib.MainContext.default()), MainContext.default());

  const ctx = openContext(t, { name: 'default-both-ways' });
  const id = ctx.attach(MainContext.default());
  const gtk = MainContext.default().toGtk(GLib);
  t.is(gtk.findSourceById(id)?.getName(), 'default-both-ways');

  const log: string[] = [];
  ctx.scheduleOneshot(() => log.push('bh'));
  iterateGtkUntil(gtk, () => log.length > 0);
  t.deepEqual(log, ['bh']);
  t.is(GLib.MainContext.getThreadDefault(), null, 'the thread-default stack is left as it was');
});

test.serial("an AioContext attached to node-gtk's new GLib.MainContext() runs under its iteration() and a GLib.MainLoop on it, not on the default one", async (t) => {
  const gtk = new GLib.MainContext();
  const mc = MainContext.fromGtk(gtk);
  t.false(mc.isDefault);
  t.not(mc, MainContext.default());
  t.is(GLib.MainContext.getThreadDefault(), null);

  const ctx = openContext(t, { name: 'on-gtk-context' });
  const id = ctx.attach(mc);
  t.is(gtk.findSourceById(id)?.getName(), 'on-gtk-context');

  const [r, w] = openPipe(t, ctx);
  const log: string[] = [];
  ctx.setFdHandler(r, { read: () => log.push(`read:${readAvailable(r)}`) });

  // The default context does not run it.
  ctx.scheduleOneshot(() => log.push('bh'));
  writeBytes(w, 2);
  for (let i = 0; i < 5; i++) GLib.MainContext.default().iteration(false);
  MainContext.default().iteration(false);
  t.deepEqual(log, []);

  // node-gtk's iteration() of that context does, in dispatch order.
  t.true(gtk.iteration(false));
  t.deepEqual(log, ['bh', 'read:2']);
  t.is(drainGtk(gtk), 0);

  // So does a GLib.MainLoop on it, quit by our timer.
  const loop = new GLib.MainLoop(gtk, false);
  const timer = timerIn(ctx, 10, () => {
    log.push('timer');
    loop.quit();
  });
  const guard = loopGuard(() => loop.quit());
  await runBlocking(() => loop.run());
  guard.cancel();
  t.false(guard.fired);
  t.deepEqual(log, ['bh', 'read:2', 'timer']);
  timer.delete();

  // And our own iteration() of the converted wrapper, too: the same GMainContext.
  ctx.scheduleOneshot(() => log.push('via-ours'));
  t.true(mc.iteration(false));
  t.deepEqual(log.at(-1), 'via-ours');
});

test.serial('our new MainContext(), converted with toGtk(GLib), is iterated by node-gtk and runs node-gtk sources attached to it', async (t) => {
  const ours = new MainContext();
  const gtk = ours.toGtk(GLib);
  t.is(GLib.MainContext.getThreadDefault(), null);

  const ctx = openContext(t, { name: 'ours-to-gtk' });
  const id = ctx.attach(ours, { priority: GLib.PRIORITY_HIGH });
  const found = gtk.findSourceById(id);
  t.is(found?.getName(), 'ours-to-gtk');
  t.is(found?.getPriority(), GLib.PRIORITY_HIGH);

  const log: string[] = [];
  // node-gtk iterates it: our BH (priority HIGH) before node-gtk's idle on the same context.
  const idle = GLib.idleSourceNew();
  idle.setCallback(() => {
    log.push('gtk-idle');
    return false;
  });
  idle.attach(gtk);
  ctx.scheduleOneshot(() => log.push('bh'));
  drainGtk(gtk);
  t.deepEqual(log, ['bh', 'gtk-idle']);

  // Our iteration() runs node-gtk's sources on it: the same GMainContext.
  const idle2 = GLib.idleSourceNew();
  idle2.setCallback(() => {
    log.push('gtk-idle-2');
    return false;
  });
  idle2.attach(gtk);
  t.true(ours.iteration(false));
  t.deepEqual(log, ['bh', 'gtk-idle', 'gtk-idle-2']);

  // A node-gtk GLib.MainLoop on it, quit from our BH.
  const loop = new GLib.MainLoop(gtk, false);
  timerIn(ctx, 5, () => ctx.scheduleOneshot(() => {
    log.push('quit');
    loop.quit();
  }));
  const guard = loopGuard(() => loop.quit());
  await runBlocking(() => loop.run());
  guard.cancel();
  t.false(guard.fired);
  t.deepEqual(log, ['bh', 'gtk-idle', 'gtk-idle-2', 'quit']);

  // Round trip: fromGtk(toGtk(x)) wraps the same GMainContext.
  const back = MainContext.fromGtk(gtk);
  t.false(back.isDefault);
  const ctx2 = openContext(t, { name: 'round-trip' });
  ctx2.attach(back);
  ctx2.scheduleOneshot(() => log.push('round-trip'));
  t.true(ours.iteration(false));
  t.is(log.at(-1), 'round-trip');
});

test.serial('fromGtk / toGtk reject what is not node-gtk, and change nothing', (t) => {
  for (const bad of [undefined, null, 42, {}, { pushThreadDefault() {} }]) {
    const err = t.throws(() => MainContext.fromGtk(bad as never), { instanceOf: TypeError });
    t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_INVALID_ARG_TYPE');
  }
  const ours = new MainContext();
  for (const bad of [undefined, null, {}, { MainContext: {} }, GLib.MainContext.default()]) {
    const err = t.throws(() => ours.toGtk(bad as never), { instanceOf: TypeError });
    t.is((err as NodeJS.ErrnoException | undefined)?.code, 'ERR_INVALID_ARG_TYPE');
  }
  t.is(GLib.MainContext.getThreadDefault(), null);

  // What node-gtk throws while ours is pushed does not leave it pushed.
  const throwing = {
    MainContext: {
      refThreadDefault(): never {
        throw new Error('from refThreadDefault');
      },
    },
  };
  t.throws(() => ours.toGtk(throwing), { message: 'from refThreadDefault' });
  t.is(GLib.MainContext.getThreadDefault(), null);
});

/* A handed-back poll() whose callback runs node-gtk's GLib.MainLoop: node-gtk
 * runs Node's libuv loop nested (uv_run() from its GSource), so the loop
 * glue's prepare/check run with that poll()'s JS loop live on the stack.
 * They must not end its pass as stale (native/addon/loop-glue.cc). */
test.serial("a poll() handed back to its JS loop is not ended by Node's loop run nested under GLib.MainLoop.run() from its callback", async (t) => {
  const ctx = openContext(t, { name: 'polled' });
  const other = openContext(t, { name: 'on-node-loop' });
  other.attachToNodeLoop(); // the loop glue's prepare/check handles
  const log: string[] = [];
  let ticks = 0;
  const keep = setInterval(() => ticks++, 2); // libuv's loop alive: node-gtk runs it
  t.teardown(() => clearInterval(keep));
  const a = ctx.bh(() => {
    log.push('a:start');
    const loop = new GLib.MainLoop(null, false);
    GLib.timeoutAdd(GLib.PRIORITY_DEFAULT, 50, () => {
      loop.quit();
      return false;
    });
    loop.run();
    log.push('a:end');
  });
  const b = ctx.bh(() => log.push('b'));
  t.teardown(() => {
    a.delete();
    b.delete();
  });

  const result = await runBlocking(() => {
    b.schedule();
    a.schedule();
    try {
      return ctx.poll(false);
    } catch (err) {
      return `threw ${(err as Error).message}`;
    }
  });

  t.true(ticks > 0); // Node's loop did run inside a's GLib loop
  t.is(result, true);
  t.deepEqual(log, ['a:start', 'a:end', 'b']);
});
