/*
 * Schedules the main thread's shared BH after `delayMs` (the main thread is
 * then blocked in poll(true)), `times` times, waiting for state[0] to reach
 * the round number between schedules.  Used by test/observability.test.ts.
 * workerData: { bh: token, delayMs, times, state: SharedArrayBuffer }
 */
import { workerData } from 'node:worker_threads';
import { remoteBottomHalf } from 'aiocontext';
import { sleepMs, waitFor } from './util.mjs';

const { bh, delayMs, times } = workerData;
const state = new Int32Array(workerData.state);
const remote = remoteBottomHalf(bh);
for (let i = 1; i <= times; i++) {
  sleepMs(delayMs);
  remote.schedule();
  waitFor(state, 0, i);
}
