/*
 * Ping-pong, worker side: posts its own BH's token, then schedules the main
 * thread's shared BH; its own BH (scheduled back by the main thread) counts
 * and schedules main's again, until `rounds` callbacks ran here.
 * workerData: { mainBh: SharedToken, rounds: number }
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext, remoteBottomHalf } from 'aiocontext';
import { pollUntil } from './util.mjs';

const { mainBh, rounds } = workerData;
const ctx = new AioContext({ name: 'ping-pong-worker' });
const main = remoteBottomHalf(mainBh);
let calls = 0;
const bh = ctx.bh(
  () => {
    calls++;
    if (calls < rounds) main.schedule();
  },
  { name: 'pong' },
);
parentPort.postMessage({ token: bh.share() });
main.schedule(); // the first ping

const { polls, idle } = pollUntil(ctx, () => calls >= rounds);
const extra = ctx.poll(false);
bh.delete();
ctx.close();
parentPort.postMessage({ calls, polls, idle, extra });
