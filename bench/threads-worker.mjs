/*
 * threads-worker.mjs — the worker side of bench/threads.ts (plain JS: tsx
 * does not reach worker threads on Node 20).  One mode per worker:
 *
 *   'bh'        remote BH round trips: schedule the main thread's shared BH
 *               (remoteBottomHalf), then poll(true) our own context until
 *               the main thread's callback scheduled our BH back.
 *   'port'      MessagePort round trips: post on `port`, wait for the echo
 *               in this thread's event loop.
 *   'atomics'   Atomics.wait/notify round trips on a SharedArrayBuffer:
 *               the JS floor of a cross-thread wake-up.
 *
 * Each round trip is timed here, in ns (clockNs('realtime'),
 * CLOCK_MONOTONIC).  Posts { ctx?, bh? } tokens first ('bh' mode), then
 * { samples: Float64Array } (transferred) once `warmup + n` rounds ran;
 * warm-up rounds are not recorded.
 *
 * workerData: { mode, n, warmup, mainBh?, pollMaxNs?, port?, sab? }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext, clockNs, remoteBottomHalf } from 'aiocontext';

const { mode, n, warmup } = workerData;
const total = warmup + n;
const samples = new Float64Array(n);
const record = (i, t0) => {
  if (i >= warmup) samples[i - warmup] = clockNs('realtime') - t0;
};
const finish = () => parentPort.postMessage({ samples }, [samples.buffer]);

if (mode === 'bh') {
  const maxNs = workerData.pollMaxNs ?? 0;
  const ctx = new AioContext({ name: 'bench-worker', poll: maxNs ? { maxNs } : undefined });
  const main = remoteBottomHalf(workerData.mainBh);
  let got = 0;
  const bh = ctx.bh(() => got++, { name: 'bench-pong' });
  parentPort.postMessage({ bh: bh.share() });
  for (let i = 0; i < total; i++) {
    const t0 = clockNs('realtime');
    main.schedule();
    while (got <= i) ctx.poll(true);
    record(i, t0);
  }
  bh.delete();
  ctx.close();
  finish();
} else if (mode === 'port') {
  const { port } = workerData;
  let i = 0;
  let t0 = 0;
  port.on('message', () => {
    record(i, t0);
    if (++i < total) {
      t0 = clockNs('realtime');
      port.postMessage(i);
    } else {
      port.close();
      finish();
    }
  });
  t0 = clockNs('realtime');
  port.postMessage(i);
} else if (mode === 'atomics') {
  // [0] ping (worker -> main), [1] pong (main -> worker): round numbers.
  const a = new Int32Array(workerData.sab);
  for (let i = 0; i < total; i++) {
    const t0 = clockNs('realtime');
    Atomics.store(a, 0, i + 1);
    Atomics.notify(a, 0);
    while (Atomics.load(a, 1) !== i + 1) Atomics.wait(a, 1, i);
    record(i, t0);
  }
  finish();
}
