/*
 * threads.ts — cross-thread wake-up latency: a remote BH round trip between
 * a Worker and the main thread, next to Node's own cross-thread wake-ups
 * and the kernel's floor, all measured in this run.
 *
 *   remote BH        the worker schedules the main thread's shared BH
 *                    (remoteBottomHalf(token).schedule()); the main thread,
 *                    blocked in poll(true), runs it, and its callback
 *                    schedules the worker's shared BH; the worker, blocked in
 *                    its own poll(true), runs that.  One round trip = two
 *                    eventfd wake-ups + two BH passes + two JS callbacks.
 *   MessagePort      worker postMessage -> main 'message' handler echoes ->
 *                    worker 'message' handler: Node's cross-thread messaging,
 *                    both sides in their libuv loops.
 *   threadsafe fn    a native thread calls a napi_threadsafe_function (which
 *                    wakes the main thread's libuv loop), the main thread
 *                    runs a JS function and acknowledges through an eventfd
 *                    (native helper tsfnRoundTrips).
 *   Atomics          Atomics.wait/notify between the worker and the main
 *                    thread: the JS floor (a futex each way).
 *   eventfd          two plain C threads, each blocked in read(2) on its
 *                    own eventfd: the kernel's floor (eventfdRoundTrips).
 *
 * Median and p99 in µs.  Runs alone with `node --import=tsx bench/threads.ts`
 * (prints the table, then the results as JSON) or from bench/run.ts, which
 * calls run().
 */
import { once } from 'node:events';
import * as path from 'node:path';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { AioContext, SCALE_MS, clockNs, remoteBottomHalf } from 'aiocontext';
import type { SharedToken } from 'aiocontext';
import { type BenchResult, ROOT, native, percentile, table, vs } from './lib';

const N = 20_000;
const WARMUP = 2_000;
const GROUP = '5 cross-thread wake-up (round trip)';
const WORKER = path.join(ROOT, 'bench', 'threads-worker.mjs');

interface Latency {
  /** µs */
  p50: number;
  p99: number;
  mean: number;
  n: number;
}

function latency(samplesNs: ArrayLike<number>): Latency {
  const us = Array.from(samplesNs, (ns) => ns / 1e3);
  return {
    p50: percentile(us, 50),
    p99: percentile(us, 99),
    mean: us.reduce((a, b) => a + b, 0) / us.length,
    n: us.length,
  };
}

function startWorker(workerData: Record<string, unknown>, transferList: MessagePort[] = []): Worker {
  return new Worker(WORKER, { workerData: { n: N, warmup: WARMUP, ...workerData }, transferList });
}

async function samplesOf(worker: Worker): Promise<Float64Array> {
  const [msg] = (await once(worker, 'message')) as [{ samples: Float64Array }];
  await once(worker, 'exit');
  return msg.samples;
}

/** Remote BH round trips; the main thread blocks in poll(true) throughout. */
async function remoteBh(): Promise<Latency> {
  const ctx = new AioContext({ name: 'bench-main' });
  let worker: ReturnType<typeof remoteBottomHalf> | undefined;
  let count = 0;
  const bh = ctx.bh(
    () => {
      count++;
      worker?.schedule();
    },
    { name: 'bench-ping' },
  );
  const w = startWorker({ mode: 'bh', mainBh: bh.share() });
  const [first] = (await once(w, 'message')) as [{ bh: SharedToken }];
  worker = remoteBottomHalf(first.bh);
  const result = samplesOf(w);

  let timedOut = false;
  const watchdog = ctx.timer('realtime', SCALE_MS, () => {
    timedOut = true;
  });
  watchdog.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + 60_000);
  while (count < N + WARMUP && !timedOut) ctx.poll(true);
  watchdog.delete();
  bh.delete();
  ctx.close();
  if (timedOut) throw new Error(`remote BH round trips: stuck after ${count} rounds`);
  return latency(await result);
}

/** MessagePort round trips; both threads in their event loops. */
async function messagePort(): Promise<Latency> {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (m) => port1.postMessage(m));
  const w = startWorker({ mode: 'port', port: port2 }, [port2]);
  const samples = await samplesOf(w);
  port1.close();
  return latency(samples);
}

/** Atomics.wait/notify round trips; the main thread blocks throughout. */
async function atomics(): Promise<Latency> {
  const sab = new SharedArrayBuffer(8);
  const a = new Int32Array(sab);
  const w = startWorker({ mode: 'atomics', sab });
  const result = samplesOf(w);
  for (let i = 1; i <= N + WARMUP; i++) {
    while (Atomics.load(a, 0) !== i) {
      if (Atomics.wait(a, 0, i - 1, 60_000) === 'timed-out') throw new Error('Atomics round trips: stuck');
    }
    Atomics.store(a, 1, i);
    Atomics.notify(a, 1);
  }
  return latency(await result);
}

async function tsfn(): Promise<Latency> {
  await native.tsfnRoundTrips(WARMUP, () => {});
  return latency(await native.tsfnRoundTrips(N, () => {}));
}

function eventfd(): Latency {
  native.eventfdRoundTrips(WARMUP);
  return latency(native.eventfdRoundTrips(N));
}

export async function run(): Promise<BenchResult[]> {
  const bh = await remoteBh();
  const port = await messagePort();
  const fn = await tsfn();
  const atom = await atomics();
  const efd = eventfd();

  const detail = (l: Latency): Record<string, unknown> => ({ p50Us: l.p50, p99Us: l.p99, meanUs: l.mean, n: l.n });
  const row = (name: string, l: Latency, which: 'p50' | 'p99', peerName?: string, peer?: Latency, extra: Partial<BenchResult> = {}): BenchResult =>
    vs(
      { group: GROUP, name: `${name} ${which === 'p50' ? 'median' : 'p99'}`, value: l[which], unit: 'µs', detail: detail(l), ...extra },
      peer && peerName ? { name: `${peerName} ${which === 'p50' ? 'median' : 'p99'}`, value: peer[which] } : undefined,
    );
  const faster = (value: number, peer: number): Partial<BenchResult> => ({ target: 'ratio < 1', met: value < peer });

  return [
    row('remote BH (worker <-> main, poll(true))', bh, 'p50', 'MessagePort', port, {
      ...faster(bh.p50, port.p50),
      note: `median ${(bh.p50 / efd.p50).toFixed(1)}x the eventfd floor (${efd.p50.toFixed(1)} µs); n = ${N}`,
    }),
    row('remote BH (worker <-> main, poll(true))', bh, 'p99', 'MessagePort', port, faster(bh.p99, port.p99)),
    row('MessagePort (worker <-> main)', port, 'p50', 'eventfd, C threads', efd),
    row('MessagePort (worker <-> main)', port, 'p99', 'eventfd, C threads', efd),
    row('napi_threadsafe_function (C thread <-> main)', fn, 'p50', 'eventfd, C threads', efd),
    row('napi_threadsafe_function (C thread <-> main)', fn, 'p99', 'eventfd, C threads', efd),
    row('Atomics.wait/notify (worker <-> main)', atom, 'p50', 'eventfd, C threads', efd),
    row('Atomics.wait/notify (worker <-> main)', atom, 'p99', 'eventfd, C threads', efd),
    row('floor: eventfd, two C threads', efd, 'p50'),
    row('floor: eventfd, two C threads', efd, 'p99'),
  ];
}

/* Run alone: `node --import=tsx bench/threads.ts`. */
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.join(ROOT, 'bench', 'threads.ts')) {
  const results = await run();
  console.log(table(results));
  console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
}
