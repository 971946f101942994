/*
 * A worker blocked in poll(true), woken from another thread: first by
 * remoteContext(t).notify() (poll returns false: a wake-up is not
 * progress), then by remoteBottomHalf(t).schedule() (returns true, the BH
 * ran once).  Before each blocking poll it sets state[0] (1, then 3) so the
 * main thread knows when to wake it.
 * workerData: { state: SharedArrayBuffer }
 * Posts { ctx, bh } tokens, then { first, second, ran, watchdog }: each of
 * first/second is { result, ms }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext, SCALE_MS, clockNs } from 'aiocontext';
import { signal } from './util.mjs';

const state = new Int32Array(workerData.state);
const ctx = new AioContext({ name: 'blocked-worker' });
let ran = 0;
let watchdog = false;
const bh = ctx.bh(() => ran++, { name: 'wake-me' });
const timer = ctx.timer('realtime', SCALE_MS, () => {
  watchdog = true;
});
parentPort.postMessage({ ctx: ctx.share(), bh: bh.share() });

function blockingPoll(marker) {
  // Arming the watchdog notifies the context (it is the earliest timer):
  // drain after it, so that the wake-up it left does not end the next wait.
  timer.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + 10_000);
  while (ctx.poll(false));
  signal(state, 0, marker);
  const t0 = clockNs('realtime');
  const result = ctx.poll(true);
  return { result, ms: (clockNs('realtime') - t0) / SCALE_MS };
}

const first = blockingPoll(1);
const ranAfterFirst = ran;
const second = blockingPoll(3);
timer.delete();
bh.delete();
ctx.close();
parentPort.postMessage({ first, second, ranAfterFirst, ran, watchdog });
