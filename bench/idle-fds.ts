/*
 * idle-fds.ts — the cost of one poll(false) with 10, 1,000 and 10,000 idle
 * fds registered, per fd monitor.
 *
 * Every fd has a read handler and no poll hook, so poll(false) really waits
 * (with timeout 0) through the monitor each time: ppoll walks every fd,
 * epoll and io_uring only look at what is ready (nothing).  The peer of each
 * figure is the same monitor with 10 fds.
 *
 * The fds are both ends of pipes, each watched for input (a write end never
 * becomes readable while its read end is open): 10,000 fds take 5,000 pipes.
 * Whole pipes, one end watched, would need 20,000 descriptors, and the hard
 * RLIMIT_NOFILE may not allow that (it is 20,000 on the machines this was
 * written on); the soft limit is raised as far as the hard one allows.
 */
import * as fs from 'node:fs';
import { AioContext, pipe } from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import { type BenchResult, median, native, nowNs, vs } from './lib';

const SIZES = [10, 1_000, 10_000];
const MONITORS: FdMonitor[] = ['poll', 'epoll', 'io_uring', 'auto'];
const GROUP = '3 poll(false) cost with idle fds';
const BATCH_NS = 20e6; // each timed batch lasts about 20 ms
const BATCHES = 7;

/** Median ns per poll(false) over several batches. */
function pollCost(ctx: AioContext): number {
  for (let i = 0; i < 20; i++) ctx.poll(false); // warm up (io_uring: arms every fd)
  let calls = 16;
  for (;;) {
    const start = nowNs();
    for (let i = 0; i < calls; i++) ctx.poll(false);
    const ns = nowNs() - start;
    if (ns >= BATCH_NS / 4) {
      calls = Math.max(1, Math.ceil((calls * BATCH_NS) / ns));
      break;
    }
    calls *= 4;
  }
  const costs: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = nowNs();
    for (let i = 0; i < calls; i++) ctx.poll(false);
    costs.push((nowNs() - start) / calls);
  }
  return median(costs);
}

export async function run(): Promise<BenchResult[]> {
  const max = Math.max(...SIZES);
  const [soft, hard] = native.raiseNofileLimit(max * 2 + 1000);
  const fds: number[] = [];
  try {
    for (let i = 0; i < max / 2; i++) fds.push(...pipe());
  } catch (err) {
    for (const fd of fds) fs.closeSync(fd);
    return [{ group: GROUP, name: 'setup', value: NaN, unit: '', note: `cannot open ${max} fds (RLIMIT_NOFILE ${soft}/${hard}): ${(err as Error).message}` }];
  }

  const results: BenchResult[] = [];
  try {
    for (const fdmon of MONITORS) {
      const costs = new Map<number, number>();
      let used = '';
      for (const size of SIZES) {
        const ctx = new AioContext({ name: 'bench-idle', fdmon });
        const mine = fds.slice(0, size);
        for (const fd of mine) ctx.setFdHandler(fd, { read: () => {} });
        costs.set(size, pollCost(ctx));
        used = ctx.stats.fdmon;
        for (const fd of mine) ctx.setFdHandler(fd, null);
        ctx.close();
        const base = costs.get(SIZES[0]) ?? NaN;
        const r = vs(
          {
            group: GROUP,
            name: `${fdmon}${fdmon === 'auto' ? ` (in use: ${used})` : ''}, ${size.toLocaleString('en-US')} fds`,
            value: costs.get(size) ?? NaN,
            unit: 'ns',
          },
          size === SIZES[0] ? undefined : { name: `${fdmon}, ${SIZES[0]} fds`, value: base },
        );
        if (size === max && (fdmon === 'epoll' || fdmon === 'io_uring')) {
          r.target = 'ratio <= 1.5';
          r.met = (r.ratio ?? Infinity) <= 1.5;
        }
        results.push(r);
      }
    }
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  results[0].note =
    `${max.toLocaleString('en-US')} fds = ${max / 2} pipes with both ends watched for input ` +
    `(RLIMIT_NOFILE soft/hard after raising: ${soft}/${hard})`;
  return results;
}
