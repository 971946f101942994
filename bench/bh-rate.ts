/*
 * bh-rate.ts — bottom half schedule -> dispatch rate.
 *
 * A BH whose callback re-schedules itself runs once per loop iteration (it
 * waits for the next BH pass), so n iterations measure n schedule ->
 * dispatch cycles including the JS callback.  Driven by poll(true) and by
 * MainContext.iteration(true), next to its peers measured in this process:
 *  - a setImmediate chain (Node's own "run this next turn");
 *  - a GLib idle source dispatched by g_main_context_iteration(), all in C;
 *  - the same idle source through node-gtk, if node-gtk is installed;
 *  - the floors: n plain C -> JS calls, and the core's BH rate in pure C
 *    (aio_poll and GSource), without any JS.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { AioContext, MainContext } from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import { type BenchResult, type Spread, interleave, mapSpread, median, native, nowNs, repeat, spreadOf, vs } from './lib';

const N = 100_000;
/** Interleaved rounds of every case (after one warm-up each). */
const REPEAT = 7;
const GROUP = '1 BH schedule->dispatch rate';

/** Ns per dispatch of a self-rescheduling BH driven by poll(true) or iteration(true). */
function bhNs(n: number, driver: 'poll' | 'iteration', fdmon: FdMonitor = 'auto'): number {
  const ctx = new AioContext({ name: 'bench-bh', fdmon });
  const mc = driver === 'iteration' ? new MainContext() : undefined;
  if (mc) ctx.attach(mc);
  let count = 0;
  const bh = ctx.bh(() => {
    if (++count < n) bh.schedule();
  });
  bh.schedule();
  const start = nowNs();
  if (mc) {
    while (count < n) mc.iteration(true);
  } else {
    while (count < n) ctx.poll(true);
  }
  const ns = nowNs() - start;
  bh.delete();
  ctx.close();
  return ns / n;
}

function setImmediateNs(n: number): Promise<number> {
  return new Promise((resolve) => {
    let count = 0;
    const start = nowNs();
    const step = (): void => {
      if (++count < n) setImmediate(step);
      else resolve((nowNs() - start) / n);
    };
    setImmediate(step);
  });
}

interface NodeGtkGLib {
  MainContext: new () => { iteration(mayBlock: boolean): boolean };
  idleSourceNew(): { setCallback(fn: () => boolean): void; attach(ctx: unknown): number; destroy(): void };
}

/** node-gtk's GLib, or a reason why not. */
function loadNodeGtk(): NodeGtkGLib | string {
  try {
    const require = createRequire(import.meta.url);
    const gi = require('node-gtk') as { require(ns: string, version: string): NodeGtkGLib };
    return gi.require('GLib', '2.0');
  } catch (err) {
    return `node-gtk is not installed (${(err as Error).message.split('\n')[0]})`;
  }
}

/** Ns per dispatch of a GLib idle source whose callback is JS, through node-gtk. */
function nodeGtkIdleNs(GLib: NodeGtkGLib, n: number): number {
  const ctx = new GLib.MainContext();
  const idle = GLib.idleSourceNew();
  let count = 0;
  idle.setCallback(() => ++count < n);
  idle.attach(ctx);
  const start = nowNs();
  while (count < n) ctx.iteration(false);
  const ns = nowNs() - start;
  idle.destroy();
  return ns / n;
}

const rate = (nsPerOp: number): number => 1e3 / nsPerOp; // millions per second

/** Runs @fn with a subscriber on 'aiocontext:dispatch' (observe.ts). */
function withSubscriber(fn: () => number): number {
  const onMessage = (): void => {};
  diagnosticsChannel.subscribe('aiocontext:dispatch', onMessage);
  try {
    return fn();
  } finally {
    diagnosticsChannel.unsubscribe('aiocontext:dispatch', onMessage);
  }
}

export async function run(): Promise<BenchResult[]> {
  // One N for every case, so that a figure and its peer do the same work.
  const fdmons = ['poll', 'epoll', 'io_uring'] as const;
  const cases = {
    bhPoll: () => bhNs(N, 'poll'),
    bhPollSubscribed: () => withSubscriber(() => bhNs(N, 'poll')),
    bhPollUnsubscribed: () => {
      withSubscriber(() => 0); // subscribe, then unsubscribe: nothing must stay behind
      return bhNs(N, 'poll');
    },
    bhIter: () => bhNs(N, 'iteration'),
    immediate: () => setImmediateNs(N),
    glibIdle: () => native.glibIdleRate(N) / N,
    glibIdleFd: () => native.glibIdleRate(N, true) / N,
    callJs: () => native.callJs(() => {}, N) / N,
    aioC: () => native.aioBhRate(N, false) / N,
    aioCGSource: () => native.aioBhRate(N, true) / N,
    ...Object.fromEntries(fdmons.map((f) => [`poll-${f}`, () => bhNs(N, 'poll', f)])),
    ...Object.fromEntries(fdmons.map((f) => [`iteration-${f}`, () => bhNs(N, 'iteration', f)])),
  } as Record<string, () => number | Promise<number>>;
  const ns = await interleave(cases, REPEAT);
  // ns per op -> M/s, with the spread of the repetitions.
  const m = (k: string): Spread => mapSpread(spreadOf(ns[k]), rate);
  const fig = (k: string, name: string): { name: string; value: number; spread: Spread; key: string } => ({ name, value: m(k).median, spread: m(k), key: k });

  const glib = fig('glibIdle', 'GLib idle source, C');
  const imm = fig('immediate', 'setImmediate chain');
  const bhPoll = fig('bhPoll', 'BH via poll(true)');
  const bhIter = fig('bhIter', 'BH via iteration(true)');
  const results: BenchResult[] = [];
  const push = (r: BenchResult): void => {
    // Paired ratios: round i of the figure against round i of its peer (the
    // same burst of load hits both), then their median and min–max.
    const fk = r.detail?.key as string | undefined;
    const peer = r.peer as (BenchResult['peer'] & { key?: string }) | undefined;
    if (fk !== undefined && peer?.key !== undefined) {
      const pk = peer.key;
      const ratios = ns[fk].map((x, i) => ns[pk][i] / x);
      r.ratioSpread = spreadOf(ratios);
      r.ratio = r.ratioSpread.median;
      delete peer.key;
    }
    if (r.target !== undefined && r.ratio !== undefined) {
      const min = />= ([\d.]+)/.exec(r.target);
      if (min) r.met = r.ratio >= Number(min[1]);
    }
    results.push(r);
  };
  const row = (k: string, name: string, extra: Partial<BenchResult> = {}): Omit<BenchResult, 'ratio' | 'peer'> => ({
    group: GROUP,
    name,
    value: m(k).median,
    unit: 'M/s',
    spread: m(k),
    detail: { nsPerOp: spreadOf(ns[k]), n: N, key: k },
    ...extra,
  });

  push(vs(row('bhPoll', 'BH via poll(true)', { target: 'ratio >= 2' }), glib));
  push(vs(row('bhPoll', 'BH via poll(true)', { target: 'ratio >= 3.5' }), imm));
  push(vs(row('bhIter', 'BH via MainContext.iteration(true)', { target: 'ratio >= 0.8' }), glib));
  // auto is io_uring where it works; each explicit monitor, by both drivers.
  for (const f of fdmons) push(vs(row(`poll-${f}`, `BH via poll(true), fdmon ${f}`), { ...bhPoll, name: 'BH via poll(true), auto' }));
  for (const f of fdmons) push(vs(row(`iteration-${f}`, `BH via MainContext.iteration(true), fdmon ${f}`), { ...bhIter, name: 'BH via iteration(true), auto' }));
  // Observability (observe.ts): no subscriber is the figure above; with one
  // the core times each callback and JS publishes one message per callback.
  push(
    vs(
      row('bhPollUnsubscribed', 'BH via poll(true), after subscribe + unsubscribe', {
        target: 'ratio >= 0.95',
        note: 'nothing stays behind once the last subscriber leaves',
      }),
      { ...bhPoll, name: 'BH via poll(true), never subscribed' },
    ),
  );
  push(
    vs(row('bhPollSubscribed', "BH via poll(true), a subscriber on 'aiocontext:dispatch'", { note: 'the cost of looking: a timed callback and one published message per BH' }), {
      ...bhPoll,
      name: 'BH via poll(true), no subscriber',
    }),
  );
  push(vs(row('immediate', 'setImmediate chain'), glib));
  push(row('glibIdle', 'GLib idle source, C'));

  const GLib = loadNodeGtk();
  if (typeof GLib === 'string') {
    push({ group: GROUP, name: 'GLib idle source via node-gtk', value: NaN, unit: 'M/s', note: `skipped: ${GLib}` });
  } else {
    const n = 300; // about 1-2 ms per dispatch here: see the note
    const gtk = spreadOf(await repeat(3, () => nodeGtkIdleNs(GLib, n)));
    push(
      vs(
        {
          group: GROUP,
          name: 'GLib idle source via node-gtk',
          value: rate(gtk.median),
          unit: 'M/s',
          spread: mapSpread(gtk, rate),
          detail: { nsPerOp: gtk, n },
          note: `${(gtk.median / 1e3).toFixed(0)} µs per dispatch of a JS idle callback through node-gtk 4.1.1 (n = ${n}, not the same n as its peer: it is that slow)`,
        },
        glib,
      ),
    );
  }
  // Per-BH cost against its floor: (C BH via aio_poll + C -> JS call) x 1.25.
  const floorNs = median(ns.aioC) + median(ns.callJs);
  push(
    vs(
      {
        group: GROUP,
        name: 'BH via poll(true), ns per BH',
        value: median(ns.bhPoll),
        unit: 'ns',
        spread: spreadOf(ns.bhPoll),
        target: 'ratio <= 1.25',
        met: median(ns.bhPoll) <= floorNs * 1.25,
        note: 'the floor is a BH in C via aio_poll plus one C -> JS call, both measured in this run',
      },
      { name: 'floor: C BH + C -> JS call', value: floorNs },
    ),
  );
  push(vs(row('callJs', 'floor: C -> JS call (napi_call_function)'), bhPoll));
  push(vs(row('aioC', 'floor: BH in C via aio_poll (no JS)'), glib));
  push(vs(row('aioCGSource', 'floor: BH in C via GSource (no JS)', { target: 'ratio >= 1' }), glib));
  // The idle source has no fd: nothing but its own GMainContext can wake
  // it.  A source that another thread can wake watches an fd, as ours does
  // (its eventfd): GLib's poll(2) then has a second fd.
  push(
    vs(
      row('aioCGSource', 'floor: BH in C via GSource (no JS)', {
        note: 'peer: a GLib idle source that also watches an eventfd and may recurse, as our GSource: the GLib peer of a source that other threads can wake',
      }),
      fig('glibIdleFd', 'GLib idle source + 1 fd, C'),
    ),
  );
  push(row('glibIdleFd', 'GLib idle source + 1 fd, C'));
  return results;
}
