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
import { createRequire } from 'node:module';
import { AioContext, MainContext } from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import { type BenchResult, median, native, nowNs, repeat, vs } from './lib';

const N = 200_000;
const REPEAT = 5;
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

export async function run(): Promise<BenchResult[]> {
  const bhPoll = median(await repeat(REPEAT, () => bhNs(N, 'poll')));
  const bhIter = median(await repeat(REPEAT, () => bhNs(N / 4, 'iteration')));
  const immediate = median(await repeat(REPEAT, () => setImmediateNs(N)));
  const glibIdle = median(await repeat(REPEAT, () => native.glibIdleRate(N / 4) / (N / 4)));
  const callJs = median(await repeat(REPEAT, () => native.callJs(() => {}, N) / N));
  const aioC = median(await repeat(REPEAT, () => native.aioBhRate(N, false) / N));
  const aioCGSource = median(await repeat(REPEAT, () => native.aioBhRate(N / 4, true) / (N / 4)));

  const glib = { name: 'GLib idle source, C', value: rate(glibIdle) };
  const imm = { name: 'setImmediate chain', value: rate(immediate) };
  const detail = (nsPerOp: number): Record<string, unknown> => ({ nsPerOp });
  const results: BenchResult[] = [];
  const push = (r: BenchResult): void => {
    if (r.target !== undefined && r.ratio !== undefined) {
      const min = Number(/>= ([\d.]+)/.exec(r.target)?.[1]);
      r.met = r.ratio >= min;
    }
    results.push(r);
  };

  push(vs({ group: GROUP, name: 'BH via poll(true)', value: rate(bhPoll), unit: 'M/s', target: 'ratio >= 2', detail: detail(bhPoll) }, glib));
  push(vs({ group: GROUP, name: 'BH via poll(true)', value: rate(bhPoll), unit: 'M/s', target: 'ratio >= 3.5', detail: detail(bhPoll) }, imm));
  push(
    vs(
      {
        group: GROUP,
        name: 'BH via MainContext.iteration(true)',
        value: rate(bhIter),
        unit: 'M/s',
        detail: detail(bhIter),
        note:
          'each GLib iteration polls (a syscall), and a BH scheduled while the GSource waits (notify_me bit 0) ' +
          'writes the eventfd, which the next iteration reads: QEMU does the same',
      },
      glib,
    ),
  );
  // auto is io_uring where it works; each explicit monitor, by both drivers.
  for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
    const ns = median(await repeat(3, () => bhNs(N, 'poll', fdmon)));
    push(vs({ group: GROUP, name: `BH via poll(true), fdmon ${fdmon}`, value: rate(ns), unit: 'M/s', detail: detail(ns) }, { name: 'BH via poll(true), auto', value: rate(bhPoll) }));
  }
  for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
    const ns = median(await repeat(3, () => bhNs(N / 4, 'iteration', fdmon)));
    push(
      vs(
        { group: GROUP, name: `BH via MainContext.iteration(true), fdmon ${fdmon}`, value: rate(ns), unit: 'M/s', detail: detail(ns) },
        { name: 'BH via iteration(true), auto', value: rate(bhIter) },
      ),
    );
  }
  push(vs({ group: GROUP, name: 'setImmediate chain', value: rate(immediate), unit: 'M/s', detail: detail(immediate) }, glib));
  push({ group: GROUP, name: 'GLib idle source, C', value: rate(glibIdle), unit: 'M/s', detail: detail(glibIdle) });

  const GLib = loadNodeGtk();
  if (typeof GLib === 'string') {
    push({ group: GROUP, name: 'GLib idle source via node-gtk', value: NaN, unit: 'M/s', note: `skipped: ${GLib}` });
  } else {
    const n = 300; // about 1-2 ms per dispatch here: see the note
    const ns = median(await repeat(3, () => nodeGtkIdleNs(GLib, n)));
    push(
      vs(
        {
          group: GROUP,
          name: 'GLib idle source via node-gtk',
          value: rate(ns),
          unit: 'M/s',
          detail: detail(ns),
          note: `${(ns / 1e3).toFixed(0)} µs per dispatch of a JS idle callback through node-gtk 4.1.1 (n = ${n})`,
        },
        glib,
      ),
    );
  }
  push(
    vs(
      { group: GROUP, name: 'floor: C -> JS call (napi_call_function)', value: rate(callJs), unit: 'M/s', detail: detail(callJs) },
      { name: 'BH via poll(true)', value: rate(bhPoll) },
    ),
  );
  push(vs({ group: GROUP, name: 'floor: BH in C via aio_poll (no JS)', value: rate(aioC), unit: 'M/s', detail: detail(aioC) }, glib));
  push(vs({ group: GROUP, name: 'floor: BH in C via GSource (no JS)', value: rate(aioCGSource), unit: 'M/s', detail: detail(aioCGSource) }, glib));
  return results;
}
