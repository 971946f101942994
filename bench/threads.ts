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
 *   remote BH, polled  the same with busy polling on both contexts
 *                    (poll: { maxNs }, 32 µs and 100 µs): a wake-up then
 *                    is a flag check
 *                    (ctx->notified) instead of an eventfd write + read.
 *
 * Median and p99 in µs, each the median of interleaved rounds (every case
 * once per round), with the rounds' min–max.  Runs alone with `node --import=tsx bench/threads.ts`
 * (prints the table, then the results as JSON) or from bench/run.ts, which
 * calls run().
 */
import * as path from 'node:path';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { AioContext, SCALE_MS, clockNs, remoteBottomHalf } from 'aiocontext';
import type { SharedToken } from 'aiocontext';
import { type BenchResult, ROOT, type Spread, native, percentile, spreadOf, table, vs } from './lib';

const N = 5_000;
const WARMUP = 1_000;
/** Interleaved rounds of every case. */
const ROUNDS = 3;
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

/**
 * A worker and what it posts.  Every listener is attached here, before the
 * worker can post anything: its last 'message' and its 'exit' may arrive in
 * the same tick, and a listener attached after awaiting the first would
 * miss the second (the process then ends with an unsettled top-level await,
 * exit code 13).
 */
interface Run {
  worker: Worker;
  /** The first message (the tokens, in 'bh' mode). */
  first: Promise<unknown>;
  /** The samples; rejects if the worker fails or exits without them. */
  samples: Promise<Float64Array>;
}

function startWorker(workerData: Record<string, unknown>, transferList: MessagePort[] = []): Run {
  const worker = new Worker(WORKER, { workerData: { n: N, warmup: WARMUP, ...workerData }, transferList });
  let first!: (m: unknown) => void;
  const firstP = new Promise<unknown>((resolve) => {
    first = resolve;
  });
  const samples = new Promise<Float64Array>((resolve, reject) => {
    let got: Float64Array | undefined;
    worker.on('message', (m: { samples?: Float64Array }) => {
      first(m);
      if (m.samples) got = m.samples;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (got && code === 0) resolve(got);
      else reject(new Error(`bench worker (${String(workerData.mode)}) exited with code ${code}${got ? '' : ' before posting its samples'}`));
    });
  });
  // Settled either way: a failure before anyone awaits must not be unhandled.
  samples.catch(() => {});
  firstP.catch(() => {});
  return { worker, first: firstP, samples };
}

/**
 * Remote BH round trips; the main thread blocks in poll(true) throughout.
 * With @pollMaxNs, both contexts busy-poll (QEMU's adaptive polling) for up
 * to that long before blocking.
 */
async function remoteBh(pollMaxNs = 0): Promise<Latency> {
  const ctx = new AioContext({ name: 'bench-main', poll: pollMaxNs ? { maxNs: pollMaxNs } : undefined });
  let worker: ReturnType<typeof remoteBottomHalf> | undefined;
  let count = 0;
  const bh = ctx.bh(
    () => {
      count++;
      worker?.schedule();
    },
    { name: 'bench-ping' },
  );
  const w = startWorker({ mode: 'bh', mainBh: bh.share(), pollMaxNs });
  const first = (await w.first) as { bh: SharedToken };
  worker = remoteBottomHalf(first.bh);

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
  return latency(await w.samples);
}

/** MessagePort round trips; both threads in their event loops. */
async function messagePort(): Promise<Latency> {
  const { port1, port2 } = new MessageChannel();
  port1.on('message', (m) => port1.postMessage(m));
  const w = startWorker({ mode: 'port', port: port2 }, [port2]);
  const samples = await w.samples;
  port1.close();
  return latency(samples);
}

/** Atomics.wait/notify round trips; the main thread blocks throughout. */
async function atomics(): Promise<Latency> {
  const sab = new SharedArrayBuffer(8);
  const a = new Int32Array(sab);
  const w = startWorker({ mode: 'atomics', sab });
  for (let i = 1; i <= N + WARMUP; i++) {
    while (Atomics.load(a, 0) !== i) {
      if (Atomics.wait(a, 0, i - 1, 60_000) === 'timed-out') throw new Error('Atomics round trips: stuck');
    }
    Atomics.store(a, 1, i);
    Atomics.notify(a, 1);
  }
  return latency(await w.samples);
}

async function tsfn(): Promise<Latency> {
  await native.tsfnRoundTrips(WARMUP, () => {});
  return latency(await native.tsfnRoundTrips(N, () => {}));
}

function eventfd(): Latency {
  native.eventfdRoundTrips(WARMUP);
  return latency(native.eventfdRoundTrips(N));
}

/** Polling time for the polled remote BH case, on both contexts (ns). */
const POLL_MAX_NS = 32_000;
/* A maximum above this VM's slow wake-up (about 55 µs when the woken CPU
 * slept): QEMU's adaptive time only grows after a block shorter than the
 * maximum, so with 32 µs one slow first wake-up can keep polling off for
 * good; with 100 µs it grows over such blocks and polling engages. */
const POLL_MAX_NS_LONG = 100_000;

export async function run(): Promise<BenchResult[]> {
  // Interleaved rounds: each round measures every case once (its own
  // worker, N round trips); a figure is the median of the rounds' medians.
  const cases = {
    bh: () => remoteBh(0),
    bhPolled: () => remoteBh(POLL_MAX_NS),
    bhPolledLong: () => remoteBh(POLL_MAX_NS_LONG),
    port: () => messagePort(),
    tsfn: () => tsfn(),
    atomics: () => atomics(),
    eventfd: () => Promise.resolve(eventfd()),
  };
  const keys = Object.keys(cases) as (keyof typeof cases)[];
  const rounds: Record<keyof typeof cases, Latency[]> = Object.fromEntries(keys.map((k) => [k, []])) as never;
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(i + r) % keys.length];
      rounds[k].push(await cases[k]());
    }
  }
  const pick = (k: keyof typeof cases, which: 'p50' | 'p99'): Spread => spreadOf(rounds[k].map((l) => l[which]));

  const row = (
    k: keyof typeof cases,
    name: string,
    which: 'p50' | 'p99',
    peerKey?: keyof typeof cases,
    peerName?: string,
    extra: Partial<BenchResult> = {},
  ): BenchResult => {
    const s = pick(k, which);
    const suffix = which === 'p50' ? 'median' : 'p99';
    const r = vs(
      { group: GROUP, name: `${name} ${suffix}`, value: s.median, unit: 'µs', spread: s, detail: { rounds: rounds[k], n: N }, ...extra },
      peerKey && peerName ? { name: `${peerName} ${suffix}`, value: pick(peerKey, which).median, spread: pick(peerKey, which) } : undefined,
    );
    if (peerKey) {
      // Paired: each round's figure against the same round's peer.
      r.ratioSpread = spreadOf(rounds[k].map((l, i) => l[which] / rounds[peerKey][i][which]));
      r.ratio = r.ratioSpread.median;
      if (r.target !== undefined) r.met = r.target === 'ratio < 1' ? r.ratio < 1 : r.target === 'ratio <= 1' ? r.ratio <= 1 : r.met;
    }
    return r;
  };
  const faster = (k: keyof typeof cases, peer: keyof typeof cases, which: 'p50' | 'p99', strict = true): Partial<BenchResult> => {
    const a = pick(k, which).median;
    const b = pick(peer, which).median;
    return { target: strict ? 'ratio < 1' : 'ratio <= 1', met: strict ? a < b : a <= b };
  };
  const efd = pick('eventfd', 'p50').median;
  const BH = 'remote BH (worker <-> main, poll(true))';
  const POLLED = `remote BH, both polling (maxNs ${POLL_MAX_NS})`;
  const POLLED_LONG = `remote BH, both polling (maxNs ${POLL_MAX_NS_LONG})`;

  return [
    row('bh', BH, 'p50', 'port', 'MessagePort', {
      ...faster('bh', 'port', 'p50'),
      note: `median ${(pick('bh', 'p50').median / efd).toFixed(1)}x the eventfd floor (${efd.toFixed(1)} µs); ${ROUNDS} rounds of n = ${N}`,
    }),
    row('bh', BH, 'p99', 'port', 'MessagePort', faster('bh', 'port', 'p99')),
    row('bhPolled', POLLED, 'p50', 'bh', 'remote BH, polling off', faster('bhPolled', 'bh', 'p50', false)),
    row('bhPolled', POLLED, 'p99', 'bh', 'remote BH, polling off'),
    row('bhPolledLong', POLLED_LONG, 'p50', 'bh', 'remote BH, polling off', faster('bhPolledLong', 'bh', 'p50', false)),
    row('bhPolledLong', POLLED_LONG, 'p99', 'bh', 'remote BH, polling off'),
    row('port', 'MessagePort (worker <-> main)', 'p50', 'eventfd', 'eventfd, C threads'),
    row('port', 'MessagePort (worker <-> main)', 'p99', 'eventfd', 'eventfd, C threads'),
    row('tsfn', 'napi_threadsafe_function (C thread <-> main)', 'p50', 'eventfd', 'eventfd, C threads'),
    row('tsfn', 'napi_threadsafe_function (C thread <-> main)', 'p99', 'eventfd', 'eventfd, C threads'),
    row('atomics', 'Atomics.wait/notify (worker <-> main)', 'p50', 'eventfd', 'eventfd, C threads'),
    row('atomics', 'Atomics.wait/notify (worker <-> main)', 'p99', 'eventfd', 'eventfd, C threads'),
    row('eventfd', 'floor: eventfd, two C threads', 'p50'),
    row('eventfd', 'floor: eventfd, two C threads', 'p99'),
  ];
}

/* Run alone: `node --import=tsx bench/threads.ts`. */
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.join(ROOT, 'bench', 'threads.ts')) {
  const results = await run();
  console.log(table(results));
  console.log(JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2));
}
