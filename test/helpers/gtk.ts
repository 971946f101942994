/*
 * Helpers for the GTK interop tests (test/gtk-*.test.ts): node-gtk's GLib
 * and Gtk, a display check, and a way to run node-gtk's blocking loops
 * (Gtk.main(), GLib.MainLoop.run()) synchronously from an ava test.
 *
 * Why runBlocking(): node-gtk's Gtk.main() and MainLoop.run() check whether
 * V8 is draining microtasks (true in any async test body, and at the top
 * level of an ES module); if so they defer the blocking call to a Node timer
 * and return at once (node_modules/node-gtk/lib/loop.js, runLoopEntry).  A
 * setImmediate callback runs outside that drain, so the loop blocks there
 * as it would at the top level of a CommonJS program, and returns when
 * quit.  While it blocks, node-gtk runs Node's libuv loop nested inside
 * GLib's, so where the blocking call starts matters:
 *   - not from process.nextTick: ticks also run at the end of an I/O
 *     callback, e.g. the read callback of ava's IPC pipe, which libuv may
 *     then re-enter from the nested loop.  Started from a tick, this file
 *     crashed its ava worker at exit about 1 run in 10 (heap corruption:
 *     "double free or corruption" in V8's ArrayBuffer sweeper, or a
 *     v8.Serializer destructor), only inside ava (0 in 50 standalone runs
 *     of the same tests), with no ASan report from the addon built with
 *     -fsanitize=address (40 runs); started from setImmediate: 0 in 90;
 *   - not from setTimeout: a loop nested in a Node timer callback leaves
 *     Node's timer list stalled afterwards;
 *   - setImmediate (the check phase, no I/O callback on the stack) is safe;
 *     node-gtk notes that libuv then sees an active idle handle and polls
 *     without sleeping while the GLib loop runs, which short test loops can
 *     afford.
 *
 * Gtk.init() needs an X display: await ensureDisplay() (display.ts) first.
 */
import gi from 'node-gtk';
import { AioContext, SCALE_MS, clockNs } from 'aiocontext';
import type { Timer } from 'aiocontext';

export { ensureDisplay } from './display.js';

export const GLib = gi.require('GLib', '2.0');

let gtk: ReturnType<typeof loadGtk> | undefined;

function loadGtk() {
  if (!process.env.DISPLAY) {
    throw new Error('GTK tests need an X display: await ensureDisplay() before getGtk()');
  }
  const Gtk = gi.require('Gtk', '3.0');
  Gtk.init(null);
  return Gtk;
}

/** node-gtk's Gtk 3, initialised once (throws a clear error without a display). */
export function getGtk(): ReturnType<typeof loadGtk> {
  gtk ??= loadGtk();
  return gtk;
}

/**
 * Runs @fn from a setImmediate callback, outside V8's microtask drain and
 * outside any I/O callback, so that Gtk.main() / GLib.MainLoop.run() called
 * by @fn block until quit (see the header).  Resolves with what @fn
 * returned, rejects with what it threw.
 */
export function runBlocking<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    setImmediate(() => {
      try {
        resolve(fn());
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

/**
 * A GLib timeout (node-gtk's, on the default context) that calls @quit
 * after @ms, so a loop that our callbacks fail to quit ends the test instead
 * of hanging it.  Returns whether it fired, and a way to cancel it.
 */
export function loopGuard(quit: () => void, ms = 5_000): { readonly fired: boolean; cancel(): void } {
  let fired = false;
  let id: number | null = GLib.timeoutAdd(GLib.PRIORITY_HIGH, ms, () => {
    fired = true;
    id = null;
    quit();
    return false;
  });
  return {
    get fired() {
      return fired;
    },
    cancel() {
      if (id !== null) GLib.sourceRemove(id);
      id = null;
    },
  };
}

/** QEMU_CLOCK_REALTIME in whole milliseconds, rounded up. */
export function nowMs(): number {
  return Math.ceil(clockNs('realtime') / SCALE_MS);
}

/** A SCALE_MS realtime timer on @ctx, armed @ms from now. */
export function timerIn(ctx: AioContext, ms: number, cb: () => void): Timer {
  const timer = ctx.timer('realtime', SCALE_MS, cb);
  timer.mod(nowMs() + ms);
  return timer;
}

/**
 * node-gtk's `GLib.MainContext.iteration(false)` until nothing is
 * dispatched, bounded: returns how many iterations dispatched something.
 */
export function drainGtk(mc: InstanceType<typeof GLib.MainContext>, limit = 10_000): number {
  let n = 0;
  while (mc.iteration(false)) {
    if (++n >= limit) throw new Error(`drainGtk: still dispatching after ${limit} iterations`);
  }
  return n;
}
