/*
 * Helpers for the block I/O tests (test/file.test.ts, thread-pool.test.ts,
 * gtk-file.test.ts): real files in a private directory under /tmp (ext4
 * here), the engine configurations every behaviour runs under, a seeded
 * PRNG so that a failure can be replayed, and bounded waits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExecutionContext } from 'ava';
import { AioFile } from 'aiocontext';
import type { AioContext, AioFileOptions, IoEngine } from 'aiocontext';
import { sleepMs } from './loop.js';

/** One engine set-up: the engine asked for and whether the file is O_DIRECT. */
export interface EngineConfig {
  readonly name: string;
  readonly engine: Exclude<IoEngine, 'auto'>;
  readonly direct: boolean;
}

/** Every engine, buffered and O_DIRECT (linux-aio needs O_DIRECT, else it is the thread pool). */
export const CONFIGS: readonly EngineConfig[] = [
  { name: 'threads', engine: 'threads', direct: false },
  { name: 'threads direct', engine: 'threads', direct: true },
  { name: 'io_uring', engine: 'io_uring', direct: false },
  { name: 'io_uring direct', engine: 'io_uring', direct: true },
  { name: 'linux-aio direct', engine: 'linux-aio', direct: true },
];

/** O_DIRECT alignment used by the tests (memory, offsets and sizes). */
export const ALIGN = 4096;

/** A fresh directory under the system temp dir, removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aiocontext-file-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** mulberry32: a small seeded PRNG; returns integers in [0, n). */
export function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** @size bytes of seeded pseudo-random data. */
export function randomBytes(size: number, seed: number): Buffer {
  const next = rng(seed);
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = next(256);
  return buf;
}

/**
 * Writes @content to a new file in a temp dir and opens it 'r+' with
 * @cfg's engine.  The file is closed when the test ends if it still can be.
 */
export function openFile(
  t: ExecutionContext,
  ctx: AioContext,
  cfg: EngineConfig,
  content: Buffer,
  options?: AioFileOptions,
): { file: AioFile; path: string } {
  const p = path.join(tempDir(t), 'data.bin');
  fs.writeFileSync(p, content);
  const file = AioFile.open(ctx, p, { flags: 'r+', engine: cfg.engine, direct: cfg.direct, ...options });
  t.teardown(() => {
    if (!file.closed && file.stats.inFlight === 0) file.close();
  });
  return { file, path: p };
}

/** A buffer good for O_DIRECT (aligned memory), filled with @fill. */
export function ioBuffer(size: number, fill = 0): Buffer {
  const buf = AioFile.alignedBuffer(size, ALIGN);
  if (fill !== 0) buf.fill(fill);
  return buf;
}

/**
 * poll(false) until @cond holds, sleeping 1 ms between idle polls, for at
 * most @timeoutMs: for waits on worker threads that do not always notify
 * (the thread-pool counters).
 */
export function spinUntil(ctx: AioContext, cond: () => boolean, timeoutMs = 5_000): void {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`spinUntil: condition still false after ${timeoutMs} ms`);
    if (!ctx.poll(false)) sleepMs(1);
  }
}
