/*
 * file-io.ts — block I/O (issue 9): AioFile against Node's own fs, in the
 * same process, on the same file.
 *
 *  - 4 KiB random reads from a 256 MiB file in the page cache, at queue
 *    depth 1, 32 and 128, for each engine (threads, io_uring; linux-aio
 *    needs O_DIRECT), each next to fs.promises FileHandle.read at the same
 *    depth; fs.read with callbacks and the synchronous floor (fs.readSync
 *    in a loop) are listed too.  The completions run from ctx.poll(true).
 *  - The same with direct: true (O_DIRECT: from the disk, not the page
 *    cache) for io_uring and linux-aio, next to the same fs.promises figure.
 *  - QD1 mean latency with busy polling (poll maxNs 32 µs) next to without,
 *    for io_uring and linux-aio.
 *  - 64 KiB sequential writes (QD 8) + one flush (fdatasync), MB/s, next to
 *    fs.promises FileHandle.write + datasync.
 *
 * Every figure is the median of REPS repetitions, interleaved with its
 * peers' (A B A B ...), each repetition the same number of requests for a
 * figure and its peer; min and max go to results.json (detail).  The
 * machine is shared: the other processes skew everything.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, AioFile } from 'aiocontext';
import type { IoEngine } from 'aiocontext';
import { type BenchResult, median, nowNs, vs } from './lib';

const FILE_SIZE = 256 << 20;
const BLOCK = 4096;
const REPS = 3;
const QDS = [1, 32, 128] as const;
/** Requests per repetition, per queue depth (the same for a figure and its peer). */
const N: Record<number, number> = { 1: 4_000, 32: 20_000, 128: 20_000 };
const GROUP_READ = '9 file reads: 4 KiB random, page cache (k IOPS)';
const GROUP_DIRECT = '9 file reads: 4 KiB random, O_DIRECT (k IOPS)';
const GROUP_POLL = '9 file reads: QD1 latency, busy polling (µs)';
const GROUP_WRITE = '9 file writes: 64 KiB sequential + flush (MB/s)';

/** Random 4 KiB-aligned offsets (a power-of-two count, indexed with a mask). */
const OFFSETS = (() => {
  const out = new Float64Array(1 << 16);
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(Math.random() * (FILE_SIZE / BLOCK)) * BLOCK;
  return out;
})();
const MASK = OFFSETS.length - 1;

interface Stat {
  median: number;
  min: number;
  max: number;
  all: number[];
}

function stat(xs: number[]): Stat {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), all: xs };
}

/* ---- runners: each returns elapsed ns for @n requests at depth @qd ------- */

type Runner = (qd: number, n: number) => Promise<number> | number;

/** An AioFile on its own context, reading with @qd requests in flight. */
function aioReader(file: AioFile, ctx: AioContext): Runner {
  return (qd, n) => {
    let submitted = 0;
    let done = 0;
    let failed = 0;
    const t0 = nowNs();
    for (let i = 0; i < qd && submitted < n; i++) {
      const buf = AioFile.alignedBuffer(BLOCK);
      const cb = (err: unknown, bytes: number): void => {
        done++;
        if (err !== null || bytes !== BLOCK) failed++;
        if (submitted < n) file.read(buf, OFFSETS[submitted++ & MASK]!, cb);
      };
      file.read(buf, OFFSETS[submitted++ & MASK]!, cb);
    }
    while (done < n) ctx.poll(true);
    const elapsed = nowNs() - t0;
    if (failed > 0) throw new Error(`${failed} reads failed on ${file.engine}`);
    return elapsed;
  };
}

function promisesReader(fh: fs.promises.FileHandle): Runner {
  return async (qd, n) => {
    let submitted = 0;
    const t0 = nowNs();
    const worker = async (): Promise<void> => {
      const buf = Buffer.alloc(BLOCK);
      while (submitted < n) {
        const { bytesRead } = await fh.read(buf, 0, BLOCK, OFFSETS[submitted++ & MASK]!);
        if (bytesRead !== BLOCK) throw new Error('short read');
      }
    };
    await Promise.all(Array.from({ length: qd }, worker));
    return nowNs() - t0;
  };
}

function callbackReader(fd: number): Runner {
  return (qd, n) =>
    new Promise<number>((resolve, reject) => {
      let submitted = 0;
      let done = 0;
      const t0 = nowNs();
      for (let i = 0; i < qd && submitted < n; i++) {
        const buf = Buffer.alloc(BLOCK);
        const cb = (err: Error | null, bytes: number): void => {
          if (err !== null || bytes !== BLOCK) return reject(err ?? new Error('short read'));
          if (++done === n) return resolve(nowNs() - t0);
          if (submitted < n) fs.read(fd, buf, 0, BLOCK, OFFSETS[submitted++ & MASK]!, cb);
        };
        fs.read(fd, buf, 0, BLOCK, OFFSETS[submitted++ & MASK]!, cb);
      }
    });
}

function syncReader(fd: number): Runner {
  return (_qd, n) => {
    const buf = Buffer.alloc(BLOCK);
    const t0 = nowNs();
    for (let i = 0; i < n; i++) fs.readSync(fd, buf, 0, BLOCK, OFFSETS[i & MASK]!);
    return nowNs() - t0;
  };
}

/** Runs every runner @reps times, interleaved; returns k IOPS per runner. */
async function interleaved(runners: Record<string, Runner>, qd: number, reps: number): Promise<Record<string, Stat>> {
  const n = N[qd]!;
  const kiops: Record<string, number[]> = {};
  for (const name of Object.keys(runners)) {
    await runners[name]!(qd, Math.min(n, 500)); // warm-up
    kiops[name] = [];
  }
  for (let r = 0; r < reps; r++) {
    for (const [name, run] of Object.entries(runners)) {
      const ns = await run(qd, n);
      kiops[name]!.push(n / (ns / 1e9) / 1e3);
    }
  }
  return Object.fromEntries(Object.entries(kiops).map(([k, v]) => [k, stat(v)]));
}

function result(group: string, name: string, s: Stat, unit: string, peer?: [string, Stat]): BenchResult {
  const detail = { min: s.min, max: s.max, reps: s.all, peerMin: peer?.[1].min, peerMax: peer?.[1].max };
  return vs({ group, name, value: s.median, unit, detail }, peer && { name: peer[0], value: peer[1].median });
}

/* ---- set-up ---------------------------------------------------------------- */

interface Opened {
  ctx: AioContext;
  file: AioFile;
}

function openAio(p: string, engine: IoEngine, direct: boolean, pollNs = 0): Opened {
  const ctx = new AioContext({ name: `bench-${engine}`, poll: { maxNs: pollNs } });
  const file = AioFile.open(ctx, p, { flags: 'r+', engine, direct });
  return { ctx, file };
}

function closeAio(o: Opened): void {
  o.file.close();
  o.ctx.close();
}

function makeFile(dir: string): string {
  const p = path.join(dir, 'data.bin');
  const fd = fs.openSync(p, 'w');
  const chunk = randomBytes(1 << 20);
  for (let off = 0; off < FILE_SIZE; off += chunk.length) {
    chunk.writeUInt32LE(off, 0);
    fs.writeSync(fd, chunk, 0, chunk.length, off);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  // In the page cache: read it once.
  const rfd = fs.openSync(p, 'r');
  const buf = Buffer.alloc(1 << 20);
  for (let off = 0; off < FILE_SIZE; off += buf.length) fs.readSync(rfd, buf, 0, buf.length, off);
  fs.closeSync(rfd);
  return p;
}

/* ---- sections -------------------------------------------------------------- */

async function reads(p: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const fh = await fs.promises.open(p, 'r');
  const fd = fs.openSync(p, 'r');
  const engines = { threads: openAio(p, 'threads', false), io_uring: openAio(p, 'io_uring', false) };
  try {
    for (const qd of QDS) {
      const runners: Record<string, Runner> = {
        'fs.promises FileHandle.read': promisesReader(fh),
        'fs.read (callbacks)': callbackReader(fd),
        'AioFile threads': aioReader(engines.threads.file, engines.threads.ctx),
        'AioFile io_uring': aioReader(engines.io_uring.file, engines.io_uring.ctx),
      };
      if (qd === 1) runners['fs.readSync loop (floor)'] = syncReader(fd);
      const s = await interleaved(runners, qd, REPS);
      const peer: [string, Stat] = [`fs.promises QD${qd}`, s['fs.promises FileHandle.read']!];
      results.push(result(GROUP_READ, `fs.read callbacks, QD${qd}`, s['fs.read (callbacks)']!, 'k IOPS', peer));
      if (qd === 1) results.push(result(GROUP_READ, 'fs.readSync loop (floor)', s['fs.readSync loop (floor)']!, 'k IOPS', peer));
      for (const engine of ['threads', 'io_uring'] as const) {
        const r = result(GROUP_READ, `AioFile ${engine}, QD${qd}`, s[`AioFile ${engine}`]!, 'k IOPS', peer);
        if (qd === 32) {
          const want = engine === 'io_uring' ? 10 : 2;
          r.target = `ratio >= ${want}`;
          r.met = (r.ratio ?? 0) >= want;
        }
        results.push(r);
      }
      results.push({ group: GROUP_READ, name: `fs.promises FileHandle.read, QD${qd}`, value: peer[1].median, unit: 'k IOPS', detail: { min: peer[1].min, max: peer[1].max } });
    }
  } finally {
    closeAio(engines.threads);
    closeAio(engines.io_uring);
    await fh.close();
    fs.closeSync(fd);
  }
  // io_uring at QD32 against the synchronous floor (measured in this run, QD1).
  const floor = results.find((r) => r.name === 'fs.readSync loop (floor)')!;
  const ring = results.find((r) => r.name === 'AioFile io_uring, QD32')!;
  const r = vs({ group: GROUP_READ, name: 'AioFile io_uring, QD32 vs the floor', value: ring.value, unit: 'k IOPS', target: 'ratio >= 0.5' }, { name: 'fs.readSync loop', value: floor.value });
  r.met = (r.ratio ?? 0) >= 0.5;
  results.push(r);
  return results;
}

async function directReads(p: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const fh = await fs.promises.open(p, 'r');
  const engines = { io_uring: openAio(p, 'io_uring', true), 'linux-aio': openAio(p, 'linux-aio', true) };
  try {
    for (const qd of QDS) {
      const runners: Record<string, Runner> = {
        'fs.promises FileHandle.read': promisesReader(fh),
        'AioFile io_uring direct': aioReader(engines.io_uring.file, engines.io_uring.ctx),
        'AioFile linux-aio direct': aioReader(engines['linux-aio'].file, engines['linux-aio'].ctx),
      };
      const s = await interleaved(runners, qd, REPS);
      const peer: [string, Stat] = [`fs.promises QD${qd} (page cache)`, s['fs.promises FileHandle.read']!];
      for (const engine of ['io_uring', 'linux-aio'] as const) {
        results.push(result(GROUP_DIRECT, `AioFile ${engine} direct, QD${qd}`, s[`AioFile ${engine} direct`]!, 'k IOPS', peer));
      }
    }
  } finally {
    closeAio(engines.io_uring);
    closeAio(engines['linux-aio']);
    await fh.close();
  }
  results[0]!.note = 'O_DIRECT reads come from the disk (a virtual disk here); the fs.promises peer reads the page cache';
  return results;
}

async function busyPolling(p: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const [engine, direct] of [['io_uring', false], ['io_uring', true], ['linux-aio', true]] as const) {
    const plain = openAio(p, engine, direct);
    const polled = openAio(p, engine, direct, 32_000);
    try {
      const s = await interleaved({ plain: aioReader(plain.file, plain.ctx), polled: aioReader(polled.file, polled.ctx) }, 1, REPS);
      // k IOPS at QD1 -> mean latency in µs.
      const lat = (x: Stat): Stat => stat(x.all.map((k) => 1e3 / k));
      const label = `${engine}${direct ? ' direct' : ''}`;
      const r = result(GROUP_POLL, `${label}, poll maxNs 32 µs`, lat(s.polled!), 'µs', [`${label}, no polling`, lat(s.plain!)]);
      r.target = 'ratio < 1';
      r.met = (r.ratio ?? 1) < 1;
      results.push(r);
    } finally {
      closeAio(plain);
      closeAio(polled);
    }
  }
  return results;
}

const WRITE_BLOCK = 64 * 1024;
const WRITE_COUNT = 1024; // 64 MiB per repetition
const WRITE_QD = 8;

function aioWriter(o: Opened): () => number {
  const bufs = Array.from({ length: WRITE_QD }, () => AioFile.alignedBuffer(WRITE_BLOCK).fill(0x5a));
  return () => {
    let submitted = 0;
    let done = 0;
    let flushed = false;
    let failed = 0;
    const t0 = nowNs();
    for (const buf of bufs) {
      const cb = (err: unknown, bytes: number): void => {
        done++;
        if (err !== null || bytes !== WRITE_BLOCK) failed++;
        if (submitted < WRITE_COUNT) o.file.write(buf, WRITE_BLOCK * submitted++, cb);
        else if (done === WRITE_COUNT) o.file.flush((e) => { flushed = true; if (e) failed++; });
      };
      o.file.write(buf, WRITE_BLOCK * submitted++, cb);
    }
    while (!flushed) o.ctx.poll(true);
    if (failed > 0) throw new Error(`${failed} writes failed`);
    return nowNs() - t0;
  };
}

function promisesWriter(fh: fs.promises.FileHandle): () => Promise<number> {
  return async () => {
    let submitted = 0;
    const t0 = nowNs();
    const worker = async (): Promise<void> => {
      const buf = Buffer.alloc(WRITE_BLOCK, 0x5a);
      while (submitted < WRITE_COUNT) await fh.write(buf, 0, WRITE_BLOCK, WRITE_BLOCK * submitted++);
    };
    await Promise.all(Array.from({ length: WRITE_QD }, worker));
    await fh.datasync();
    return nowNs() - t0;
  };
}

async function writes(dir: string): Promise<BenchResult[]> {
  const p = path.join(dir, 'writes.bin');
  fs.writeFileSync(p, '');
  const fh = await fs.promises.open(p, 'r+');
  const opened = {
    threads: openAio(p, 'threads', false),
    io_uring: openAio(p, 'io_uring', false),
    'io_uring direct': openAio(p, 'io_uring', true),
    'linux-aio direct': openAio(p, 'linux-aio', true),
  };
  const runners: Record<string, () => number | Promise<number>> = { 'fs.promises': promisesWriter(fh) };
  for (const [name, o] of Object.entries(opened)) runners[name] = aioWriter(o);
  const mbs: Record<string, number[]> = Object.fromEntries(Object.keys(runners).map((k) => [k, []]));
  try {
    for (const run of Object.values(runners)) await run(); // warm-up (and the file's blocks allocated)
    for (let r = 0; r < REPS; r++) {
      for (const [name, run] of Object.entries(runners)) {
        const ns = await run();
        mbs[name]!.push((WRITE_BLOCK * WRITE_COUNT) / 1e6 / (ns / 1e9));
      }
    }
  } finally {
    for (const o of Object.values(opened)) closeAio(o);
    await fh.close();
  }
  const peer: [string, Stat] = ['fs.promises write + datasync', stat(mbs['fs.promises']!)];
  const results = Object.keys(opened).map((name) =>
    result(GROUP_WRITE, `AioFile ${name}, QD${WRITE_QD}`, stat(mbs[name]!), 'MB/s', peer),
  );
  results.push({ group: GROUP_WRITE, name: `fs.promises FileHandle.write, QD${WRITE_QD}`, value: peer[1].median, unit: 'MB/s', detail: { min: peer[1].min, max: peer[1].max } });
  results[0]!.note = `${WRITE_COUNT} writes of 64 KiB (64 MiB) over the same file, then one fdatasync, per repetition`;
  return results;
}

export async function run(): Promise<BenchResult[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiocontext-bench-'));
  try {
    const p = makeFile(dir);
    const results = [...(await reads(p)), ...(await directReads(p)), ...(await busyPolling(p)), ...(await writes(dir))];
    results[0]!.note =
      `median of ${REPS} interleaved repetitions (min-max in results.json), ${N[1]} requests per repetition at QD1, ` +
      `${N[32]} at QD32/128; completions from ctx.poll(true); 256 MiB file read once beforehand`;
    return results;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import=tsx bench/file-io.ts` runs this section alone.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const { table } = await import('./lib');
  console.log(table(await run()));
}
