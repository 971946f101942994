/*
 * main.ts — an I/O thread in a Worker, driven from the main thread through
 * share tokens (API.md "Threads").
 *
 *   node --import=tsx examples/iothread-worker/main.ts
 *
 * The worker (worker.mjs) owns an AioContext and blocks in poll(true).  The
 * main thread hands it work the way QEMU hands work to an IOThread: post the
 * job (here on a MessagePort), then schedule the worker's shared BH with
 * remoteBottomHalf(token).schedule(), which wakes its poll; the BH drains
 * the port with receiveMessageOnPort().  Results come back the same way:
 * a message, then a schedule of the main thread's own shared BH, while the
 * main thread blocks in its own poll(true).  Shutdown: a 'stop' message
 * plus a schedule; the worker finishes its jobs, closes its context and
 * exits, after which the worker's token is dead (ERR_AIO_CLOSED).
 */
import { once } from 'node:events';
import { writeSync } from 'node:fs';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { AioContext, AioError, SCALE_MS, clockNs, remoteBottomHalf } from 'aiocontext';
import type { SharedToken } from 'aiocontext';

const start = clockNs('realtime');
const say = (text: string): void => {
  writeSync(1, `  [${((clockNs('realtime') - start) / SCALE_MS).toFixed(1).padStart(6)} ms] main:     ${text}\n`);
};

interface Job {
  type: 'job';
  id: number;
  text: string;
  delayMs: number;
}

/* ---- the main thread's own loop: results arrive on `replies` ------------ */

const ctx = new AioContext({ name: 'main' });
const jobs = new MessageChannel(); // main -> worker
const replies = new MessageChannel(); // worker -> main
const results = new Map<number, string>();
const inbox = ctx.bh(
  () => {
    for (let m; (m = receiveMessageOnPort(replies.port2)) !== undefined; ) {
      const { id, digest } = m.message as { id: number; digest: string };
      results.set(id, digest);
      say(`result of job ${id}: ${digest}…`);
    }
  },
  { name: 'main-inbox' },
);

/* ---- start the I/O thread ---------------------------------------------- */

const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
  workerData: { jobs: jobs.port2, replies: replies.port1, mainInbox: inbox.share(), start },
  transferList: [jobs.port2, replies.port1],
});
const [tokens] = (await once(worker, 'message')) as [{ ctx: SharedToken; inbox: SharedToken }];
say(`I/O thread up: context token ${JSON.stringify(tokens.ctx)}, inbox ${JSON.stringify(tokens.inbox)}`);
const iothread = remoteBottomHalf(tokens.inbox);

/* ---- hand it work ------------------------------------------------------- */

const work: Job[] = [
  { type: 'job', id: 1, text: 'bottom halves', delayMs: 30 },
  { type: 'job', id: 2, text: 'fd handlers', delayMs: 10 },
  { type: 'job', id: 3, text: 'timers', delayMs: 20 },
];
say('posting jobs 1-3, then ONE schedule: one run of the worker\'s BH drains all three');
for (const job of work) jobs.port1.postMessage(job);
iothread.schedule();
const late: Job = { type: 'job', id: 4, text: 'a GSource', delayMs: 5 };
let lateSent = false;

/* ---- wait for the results, blocked in poll(true) ----------------------- */

// A watchdog, so that a lost wake-up would show instead of hanging.
let timedOut = false;
const watchdog = ctx.timer('realtime', SCALE_MS, () => {
  timedOut = true;
});
watchdog.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + 10_000);
let polls = 0;
while (results.size < 4 && !timedOut) {
  ctx.poll(true); // woken by the worker's remoteBottomHalf(...).schedule()
  polls++;
  if (results.size > 0 && !lateSent) {
    say('first result in: posting job 4, with its own schedule, while the worker is busy');
    jobs.port1.postMessage(late);
    iothread.schedule();
    lateSent = true;
  }
}
watchdog.delete();
say(`${results.size} results after ${polls} poll(true) calls${timedOut ? ' (TIMED OUT)' : ''}`);

/* ---- clean shutdown ----------------------------------------------------- */

say("stop: a 'stop' message, then a schedule");
jobs.port1.postMessage({ type: 'stop' });
iothread.schedule();
const [code] = (await once(worker, 'exit')) as [number];
say(`worker exited with code ${code}`);

try {
  iothread.schedule();
} catch (err) {
  if (!(err instanceof AioError)) throw err;
  say(`scheduling its BH now throws ${err.code}: ${err.message}`);
}

inbox.delete();
ctx.close();
jobs.port1.close();
replies.port2.close();
say('done');
process.exitCode = timedOut || code !== 0 ? 1 : 0;
