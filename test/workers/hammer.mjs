/*
 * Hammer, worker side: schedules one shared BH `schedules` times as fast as
 * it can, counts itself done in done[0], and schedules once more (the wake-up
 * that lets the main thread see the count).
 * workerData: { bh: SharedToken, schedules: number, done: SharedArrayBuffer }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remoteBottomHalf } from 'aiocontext';

const { bh, schedules, done } = workerData;
const remote = remoteBottomHalf(bh);
for (let i = 0; i < schedules; i++) remote.schedule();
Atomics.add(new Int32Array(done), 0, 1);
remote.schedule();
parentPort.postMessage({ scheduled: schedules + 1 });
