/*
 * worker.mjs — the I/O thread of examples/iothread-worker (see main.ts).
 *
 * A plain ES module (tsx does not reach worker threads on Node 20) that
 * imports the built package.  It owns an AioContext and blocks in
 * poll(true) until it is told to stop.  Work arrives as messages on
 * `jobs`; the main thread schedules our shared `inbox` BH after posting,
 * and the BH drains the port with receiveMessageOnPort().  Each job is an
 * "I/O" that completes after job.delayMs (a timer on this loop); its
 * result goes back on `replies`, followed by a schedule of the main
 * thread's shared BH.
 *
 * workerData: { jobs: MessagePort, replies: MessagePort, mainInbox: SharedToken,
 *               start: the main thread's clockNs('realtime') at start-up }
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { AioContext, SCALE_MS, clockNs, remoteBottomHalf } from 'aiocontext';

const { jobs, replies, mainInbox, start } = workerData;
/* Synchronous: console.log in a worker goes through the main thread's event
 * loop, which is blocked in poll(true) most of the time. */
const say = (text) => writeSync(1, `  [${((clockNs('realtime') - start) / SCALE_MS).toFixed(1).padStart(6)} ms] iothread: ${text}\n`);

const ctx = new AioContext({ name: 'iothread' });
const main = remoteBottomHalf(mainInbox);
let pending = 0;
let stopping = false;

function handle(job) {
  if (job.type === 'stop') {
    say(`stop received (${pending} job(s) still pending)`);
    stopping = true;
    return;
  }
  pending++;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    timer.delete();
    const digest = createHash('sha256').update(job.text).digest('hex').slice(0, 16);
    say(`job ${job.id} done after ${job.delayMs} ms: sha256 ${digest}…`);
    replies.postMessage({ id: job.id, digest });
    main.schedule(); // wakes the main thread's poll(true)
    pending--;
  });
  timer.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + job.delayMs);
}

const inbox = ctx.bh(
  () => {
    let drained = 0;
    for (let m; (m = receiveMessageOnPort(jobs)) !== undefined; drained++) handle(m.message);
    say(`inbox BH ran: drained ${drained} message(s)`);
  },
  { name: 'iothread-inbox' },
);

parentPort.postMessage({ ctx: ctx.share(), inbox: inbox.share() });
say('polling');
let polls = 0;
while (!(stopping && pending === 0)) {
  ctx.poll(true);
  polls++;
}
say(`leaving after ${polls} poll(true) calls: deleting the inbox BH, closing the context`);
inbox.delete();
ctx.close();
jobs.close();
replies.close();
