/*
 * soak.ts — `npm run soak [-- --cycles N --contexts M --fdmon F]`: resident
 * memory and open fds before and after
 *   - N create/fire/delete cycles, each a BH, a timer and an fd handler made,
 *     run by one poll(false) and deleted (default 1,000,000), and
 *   - M contexts (default 10,000, every fd monitor in turn) closed with
 *     leftovers: a scheduled BH never deleted, an armed timer, an fd
 *     handler and an event notifier handler still registered.
 * After a warm-up and a GC, RSS may grow by less than --rss-mb (16) and
 * open fds not at all.  --yield-every K: an event loop turn every K cycles
 * (default 10,000; 0 never).  Prints the figures; exits 1 over a threshold.
 * test/soak.test.ts runs a short version.  Needs --expose-gc.
 */
import { readdirSync, readSync, writeSync, closeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { AioContext, EventNotifier, SCALE_NS, pipe, virtualClock } from 'aiocontext';

export interface SoakOptions {
  cycles: number;
  contexts: number;
  fdmon: 'auto' | 'poll' | 'epoll' | 'io_uring';
  rssLimitMb: number;
  /** Return to the event loop every this many cycles (0: never; default YIELD_EVERY). */
  yieldEvery?: number;
}

export interface Sample {
  rssMb: number;
  fds: number;
}

export interface SoakResult {
  before: Sample;
  afterCycles: Sample;
  afterContexts: Sample;
  cyclesPerSec: number;
  contextsPerSec: number;
  fired: number;
  problems: string[];
}

const FDMONS = ['poll', 'epoll', 'io_uring', 'auto'] as const;

/** RSS and open fds after a full GC, letting N-API finalizers (which run from the event loop) run too. */
async function sample(): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('soak: run node with --expose-gc');
  for (let i = 0; i < 6; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { rssMb: process.memoryUsage().rss / 2 ** 20, fds: readdirSync('/proc/self/fd').length };
}

/**
 * The memory of a deleted BH's or timer's handle (~250 bytes) is freed by
 * its Node-API finalizer, which Node runs from the event loop: the loops
 * below return to it every YIELD_EVERY iterations, as a program does
 * between bursts of work.  (Without that, RSS grows by that much per handle
 * until the thread returns to its event loop; see the fuzzer's report.)
 */
const YIELD_EVERY = 10_000;
const turn = () => new Promise((resolve) => setImmediate(resolve));

/** @n cycles on @ctx; returns how many callbacks fired (3 per cycle when right). */
async function cycles(ctx: AioContext, r: number, w: number, n: number, yieldEvery: number): Promise<number> {
  const byte = Buffer.alloc(1);
  const sink = Buffer.alloc(16);
  let fired = 0;
  const bhCb = () => void fired++;
  const timerCb = () => void fired++;
  const read = () => {
    fired++;
    readSync(r, sink, 0, 16, null);
  };
  for (let i = 0; i < n; i++) {
    const bh = ctx.bh(bhCb);
    bh.schedule();
    const t = ctx.timer('virtual', SCALE_NS, timerCb);
    t.modNs(virtualClock.now());
    ctx.setFdHandler(r, { read });
    writeSync(w, byte);
    ctx.poll(false);
    bh.delete();
    t.delete();
    ctx.setFdHandler(r, null);
    if (yieldEvery > 0 && i % yieldEvery === yieldEvery - 1) await turn();
  }
  return fired;
}

/** @n contexts closed with leftovers. */
async function contexts(n: number): Promise<void> {
  const [r, w] = pipe();
  const notifier = new EventNotifier(true);
  const emit = process.emitWarning;
  process.emitWarning = () => {}; // the AioLeakWarning of each close: expected here
  try {
    for (let i = 0; i < n; i++) {
      const ctx = new AioContext({ fdmon: FDMONS[i % FDMONS.length], name: 'soak' });
      ctx.bh(() => {}).schedule();
      ctx.timer('virtual', SCALE_NS, () => {}).modNs(virtualClock.now() + 1_000_000);
      ctx.setFdHandler(r, { read: () => {} });
      ctx.setEventNotifier(notifier, { read: () => {} });
      ctx.scheduleOneshot(() => {});
      ctx.close();
      if (i % (YIELD_EVERY / 10) === YIELD_EVERY / 10 - 1) await turn();
    }
  } finally {
    process.emitWarning = emit;
    notifier.close();
    closeSync(r);
    closeSync(w);
  }
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  virtualClock.stop();
  const [r, w] = pipe();
  const problems: string[] = [];
  let fired: number;
  let ctx = new AioContext({ fdmon: o.fdmon, name: 'soak' });
  try {
    // Warm-up: JIT, allocator arenas, GLib's and io_uring's one-time state,
    // and the high-water mark of handles waiting for their finalizers.
    await cycles(ctx, r, w, Math.min(o.cycles, 100_000), YIELD_EVERY);
    await contexts(Math.min(o.contexts, 1_000));
    const before = await sample();
    let start = process.hrtime.bigint();
    fired = await cycles(ctx, r, w, o.cycles, o.yieldEvery ?? YIELD_EVERY);
    const cyclesNs = Number(process.hrtime.bigint() - start);
    const afterCycles = await sample();
    start = process.hrtime.bigint();
    await contexts(o.contexts);
    const contextsNs = Number(process.hrtime.bigint() - start);
    const afterContexts = await sample();
    if (fired !== 3 * o.cycles) problems.push(`${fired} callbacks fired in ${o.cycles} cycles, expected ${3 * o.cycles}`);
    const grew = afterContexts.rssMb - before.rssMb;
    if (grew >= o.rssLimitMb) problems.push(`RSS grew by ${grew.toFixed(1)} MB (limit ${o.rssLimitMb} MB)`);
    if (afterCycles.fds !== before.fds) problems.push(`open fds went from ${before.fds} to ${afterCycles.fds} over the cycles`);
    if (afterContexts.fds !== before.fds) problems.push(`open fds went from ${before.fds} to ${afterContexts.fds} over the contexts`);
    return {
      before, afterCycles, afterContexts, fired, problems,
      cyclesPerSec: o.cycles / (cyclesNs / 1e9),
      contextsPerSec: o.contexts / (contextsNs / 1e9),
    };
  } finally {
    ctx.close();
    // eslint-disable-next-line no-useless-assignment -- drops the last reference for the collector
    ctx = null!;
    closeSync(r);
    closeSync(w);
  }
}

export function formatSoak(o: SoakOptions, s: SoakResult): string {
  const mb = (x: number) => `${x.toFixed(1)} MB`;
  return [
    `soak (fdmon ${o.fdmon}): ${o.cycles} create/fire/delete cycles (BH + timer + fd handler; event loop turn every ${(o.yieldEvery ?? YIELD_EVERY) || 'never'}), ${o.contexts} contexts closed with leftovers`,
    `  before:          RSS ${mb(s.before.rssMb)}, fds ${s.before.fds}`,
    `  after cycles:    RSS ${mb(s.afterCycles.rssMb)} (${(s.afterCycles.rssMb - s.before.rssMb >= 0 ? '+' : '')}${(s.afterCycles.rssMb - s.before.rssMb).toFixed(1)}), fds ${s.afterCycles.fds} (${s.afterCycles.fds - s.before.fds >= 0 ? '+' : ''}${s.afterCycles.fds - s.before.fds}); ${Math.round(s.cyclesPerSec)} cycles/s`,
    `  after contexts:  RSS ${mb(s.afterContexts.rssMb)} (${(s.afterContexts.rssMb - s.before.rssMb >= 0 ? '+' : '')}${(s.afterContexts.rssMb - s.before.rssMb).toFixed(1)}), fds ${s.afterContexts.fds} (${s.afterContexts.fds - s.before.fds >= 0 ? '+' : ''}${s.afterContexts.fds - s.before.fds}); ${Math.round(s.contextsPerSec)} contexts/s`,
    s.problems.length === 0 ? `  within thresholds (RSS growth < ${o.rssLimitMb} MB, fd growth 0)` : `  OVER THRESHOLD: ${s.problems.join('; ')}`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '1000000' },
      contexts: { type: 'string', default: '10000' },
      fdmon: { type: 'string', default: 'auto' },
      'rss-mb': { type: 'string', default: '16' },
      'yield-every': { type: 'string', default: String(YIELD_EVERY) },
    },
  });
  const o: SoakOptions = {
    cycles: Number(values.cycles),
    contexts: Number(values.contexts),
    fdmon: values.fdmon as SoakOptions['fdmon'],
    rssLimitMb: Number(values['rss-mb']),
    yieldEvery: Number(values['yield-every']),
  };
  const s = await soak(o);
  console.log(formatSoak(o, s));
  process.exitCode = s.problems.length === 0 ? 0 : 1;
}
