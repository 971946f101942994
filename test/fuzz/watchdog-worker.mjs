// watchdog-worker.mjs — the fuzzer's watchdog thread (see watchdog.ts).
// A plain .mjs importing the built package: tsx does not reach workers.
import { workerData } from 'node:worker_threads';
import { remoteContext } from 'aiocontext';

const cell = new Int32Array(workerData.sab);
const TICK_MS = 250;
const LIMIT_TICKS = workerData.limitMs / TICK_MS;
let last = 0;
let ticks = 0;
for (;;) {
  Atomics.wait(cell, 3, 0, TICK_MS);
  const armed = Atomics.load(cell, 0);
  if (armed === 0 || armed !== last) {
    last = armed;
    ticks = 0;
    continue;
  }
  if (++ticks < LIMIT_TICKS) continue;
  ticks = 0;
  Atomics.add(cell, 2, 1);
  try {
    remoteContext({ kind: 'aio-context', id: Atomics.load(cell, 1) }).notify();
  } catch {
    // closed meanwhile: the call returned after all
  }
}
