/*
 * io.ts — the fuzzer's block I/O and coroutine campaign: random AioFile
 * reads, writes, readv/writev, flushes, discards and cancels on a temp file,
 * and spawned async functions that await ctx.nextBh(), virtual-clock
 * timers and file promises, against a shadow copy of the file.
 *
 * Checked: every request completes exactly once, only from a driver call
 * (poll() or MainContext.iteration()), with bytes == requested, or for a
 * cancelled one ECANCELED (the signal's reason for a promise) or the full
 * result; data read equals the shadow on every byte that no concurrent or
 * cancelled write made uncertain; a spawn's result or throw settles only
 * its own promise (no driver call throws); the file at the end equals the
 * shadow.  A write whose cancel won may or may not have happened, and two
 * overlapping writes in flight together may land in either order: their
 * bytes become unknown until a later write alone covers them.
 */
import { openSync, closeSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AioContext, AioFile, MainContext, SCALE_NS, virtualClock, type Aiocb } from 'aiocontext';
import { guarded } from './watchdog';

export type Engine = 'threads' | 'io_uring' | 'linux-aio';
export const ENGINES: readonly Engine[] = ['threads', 'io_uring', 'linux-aio'];
export type IoDriver = 'poll' | 'gsource';
export const IO_DRIVERS: readonly IoDriver[] = ['poll', 'gsource'];

const BLOCK = 4096;
const FILE_SIZE = 16 * BLOCK;

type Rw = 'read' | 'write' | 'readv' | 'writev';
type Step = { s: 'bh' } | { s: 'vsleep'; ns: number } | { s: 'io'; rw: 'read' | 'write'; off: number; len: number };
export type IoOp =
  | { op: Rw; off: number; len: number; parts: number; promise: boolean }
  | { op: 'flush'; promise: boolean }
  | { op: 'discard'; off: number; len: number }
  | { op: 'cancel'; pick: number }
  | { op: 'closeBusy' }
  | { op: 'spawn'; steps: Step[]; fail: boolean }
  | { op: 'drive'; blocking: boolean }
  | { op: 'step'; ns: number }
  | { op: 'turn' };

export interface IoConfig {
  engine: Engine;
  driver: IoDriver;
}

/** A small seeded PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The engine and driver a run of @seed uses (drawn per run). */
export function drawConfig(seed: number): IoConfig {
  const r = rng(seed ^ 0x5eed);
  return { engine: ENGINES[Math.floor(r() * ENGINES.length)], driver: IO_DRIVERS[Math.floor(r() * IO_DRIVERS.length)] };
}

function range(r: () => number, direct: boolean): { off: number; len: number } {
  if (direct) {
    const off = Math.floor(r() * 15) * BLOCK;
    const len = (1 + Math.floor(r() * Math.min(4, (FILE_SIZE - off) / BLOCK))) * BLOCK;
    return { off, len };
  }
  const off = Math.floor(r() * (FILE_SIZE - 1));
  const len = 1 + Math.floor(r() * Math.min(2 * BLOCK, FILE_SIZE - off));
  return { off, len };
}

/** The trace of @length ops for @seed (the engine decides alignment). */
export function generateIo(seed: number, length: number, engine: Engine): IoOp[] {
  const r = rng(seed);
  const direct = engine === 'linux-aio';
  const ops: IoOp[] = [];
  const rw: Rw[] = ['read', 'write', 'readv', 'writev'];
  while (ops.length < length) {
    const x = r();
    if (x < 0.4) {
      const { off, len } = range(r, direct);
      ops.push({ op: rw[Math.floor(r() * 4)], off, len, parts: 1 + Math.floor(r() * 3), promise: r() < 0.3 });
    } else if (x < 0.44) ops.push({ op: 'flush', promise: r() < 0.5 });
    else if (x < 0.49) ops.push({ op: 'discard', ...range(r, direct) });
    else if (x < 0.57) ops.push({ op: 'cancel', pick: Math.floor(r() * 1000) });
    else if (x < 0.59) ops.push({ op: 'closeBusy' });
    else if (x < 0.67) {
      const steps: Step[] = [];
      for (let n = Math.floor(r() * 4); n > 0; n--) {
        const y = r();
        if (y < 0.35) steps.push({ s: 'bh' });
        else if (y < 0.6) steps.push({ s: 'vsleep', ns: 1 + Math.floor(r() * 1000) });
        else steps.push({ s: 'io', rw: r() < 0.5 ? 'read' : 'write', ...range(r, direct) });
      }
      ops.push({ op: 'spawn', steps, fail: r() < 0.2 });
    } else if (x < 0.87) ops.push({ op: 'drive', blocking: r() < 0.5 });
    else if (x < 0.93) ops.push({ op: 'step', ns: 1 + Math.floor(r() * 800) });
    else ops.push({ op: 'turn' });
  }
  return ops;
}

class Divergence extends Error {}

interface Req {
  id: number;
  kind: Rw | 'flush' | 'discard';
  off: number;
  len: number;
  calls: number;
  cancelled: boolean;
  aiocb: Aiocb | null;
  abort: AbortController | null;
  /* reads: the shadow at submission and the bytes that may differ from it */
  expect?: Uint8Array;
  racy?: Uint8Array;
  bufs?: Buffer[];
  /* writes: the data, and whether an overlapping write ran at the same time */
  data?: Uint8Array;
  conflict?: boolean;
}

export interface IoStats {
  requests: number;
  cancels: number;
  cancelledWon: number;
  bytesChecked: number;
  spawns: number;
  drives: number;
}
export const ioCoverage: IoStats = { requests: 0, cancels: 0, cancelledWon: 0, bytesChecked: 0, spawns: 0, drives: 0 };

let fileSeq = 0;

class IoRunner {
  readonly ctx: AioContext;
  readonly main: MainContext | null;
  readonly file: AioFile;
  readonly path: string;
  readonly shadow = new Uint8Array(FILE_SIZE);
  readonly unknown = new Uint8Array(FILE_SIZE);
  readonly inflight = new Map<number, Req>();
  readonly spawns = new Map<number, { token: string; settled: number; fail: boolean }>();
  readonly direct: boolean;
  inDriver = false;
  failure: string | null = null;
  nextId = 0;
  pattern: number;

  constructor(readonly cfg: IoConfig, seed: number) {
    if (!virtualClock.stopped) virtualClock.stop();
    this.direct = cfg.engine === 'linux-aio';
    this.pattern = seed & 0xff;
    const r = rng(seed ^ 0xf11e);
    for (let i = 0; i < FILE_SIZE; i++) this.shadow[i] = Math.floor(r() * 256);
    this.path = join(tmpdir(), `aiocontext-fuzz-${process.pid}-${fileSeq++}.img`);
    const fd = openSync(this.path, 'w');
    writeSync(fd, this.shadow);
    closeSync(fd);
    this.ctx = new AioContext({ name: 'fuzz-io' });
    this.main = cfg.driver === 'gsource' ? new MainContext() : null;
    if (this.main) this.ctx.attach(this.main);
    this.file = AioFile.open(this.ctx, this.path, { flags: 'r+', engine: cfg.engine, direct: this.direct });
    if (this.file.engine !== cfg.engine) throw new Error(`engine ${cfg.engine} fell back to ${this.file.engine}: ${this.file.stats.fallbackReason}`);
  }

  fail(message: string): never {
    throw new Divergence(message);
  }

  buffer(len: number): Buffer {
    return this.direct ? AioFile.alignedBuffer(len) : Buffer.alloc(len);
  }

  /** Splits @len into up to @parts pieces (whole blocks when direct). */
  split(len: number, parts: number): number[] {
    const unit = this.direct ? BLOCK : 1;
    const units = len / unit;
    const n = Math.min(parts, units);
    const out: number[] = [];
    let left = units;
    for (let i = 0; i < n - 1; i++) {
      const u = Math.max(1, Math.floor(left / (n - i)));
      out.push(u * unit);
      left -= u;
    }
    out.push(left * unit);
    return out;
  }

  overlaps(a: Req, off: number, len: number): boolean {
    return a.off < off + len && off < a.off + a.len;
  }

  /** Registers a request before submission; reads snapshot the shadow. */
  begin(kind: Req['kind'], off: number, len: number): Req {
    const req: Req = { id: this.nextId++, kind, off, len, calls: 0, cancelled: false, aiocb: null, abort: null };
    const writes = kind === 'write' || kind === 'writev' || kind === 'discard';
    if (kind === 'read' || kind === 'readv') {
      req.expect = this.shadow.slice(off, off + len);
      req.racy = this.unknown.slice(off, off + len);
    }
    if (writes) {
      req.data = new Uint8Array(len);
      if (kind !== 'discard') for (let i = 0; i < len; i++) req.data[i] = (this.pattern + req.id * 7 + i) & 0xff;
    }
    for (const other of this.inflight.values()) {
      if (!this.overlaps(other, off, len)) continue;
      const otherWrites = other.data !== undefined;
      if (writes && otherWrites) {
        other.conflict = true;
        req.conflict = true;
      }
      const [reader, writer] = req.racy && otherWrites ? [req, other] : other.racy && writes ? [other, req] : [null, null];
      if (reader && writer) {
        const lo = Math.max(reader.off, writer.off);
        const hi = Math.min(reader.off + reader.len, writer.off + writer.len);
        reader.racy!.fill(1, lo - reader.off, hi - reader.off);
      }
    }
    this.inflight.set(req.id, req);
    ioCoverage.requests++;
    return req;
  }

  /** A completion: checks it, then updates the shadow. */
  complete(req: Req, code: string | null, bytes: number, viaPromise: boolean): void {
    req.calls++;
    if (req.calls > 1) this.fail(`request ${req.id} (${req.kind}) completed ${req.calls} times`);
    if (!viaPromise && !this.inDriver) this.fail(`request ${req.id} (${req.kind}) completed outside a driver call`);
    this.inflight.delete(req.id);
    const sized = req.kind !== 'flush' && req.kind !== 'discard';
    if (code !== null) {
      if (!(req.cancelled && (code === 'ECANCELED' || code === 'ABORT'))) {
        this.fail(`request ${req.id} (${req.kind} ${req.off}+${req.len}) failed with ${code}${req.cancelled ? ' after cancel' : ''}`);
      }
      ioCoverage.cancelledWon++;
      if (req.data) this.unknown.fill(1, req.off, req.off + req.len);
      return;
    }
    if (sized && bytes !== req.len) this.fail(`request ${req.id} (${req.kind} ${req.off}+${req.len}) returned ${bytes} bytes`);
    if (req.expect) {
      const got = Buffer.concat(req.bufs!);
      for (let i = 0; i < req.len; i++) {
        if (req.racy![i]) continue;
        ioCoverage.bytesChecked++;
        if (got[i] !== req.expect[i]) this.fail(`request ${req.id} (${req.kind} ${req.off}+${req.len}) read ${got[i]} at ${req.off + i}, expected ${req.expect[i]}`);
      }
    }
    if (req.data) {
      if (req.conflict) this.unknown.fill(1, req.off, req.off + req.len);
      else {
        this.shadow.set(req.data, req.off);
        this.unknown.fill(0, req.off, req.off + req.len);
      }
    }
  }

  callback(req: Req): (err: { code?: string } | null, bytes?: number) => void {
    return (err, bytes) => {
      try {
        this.complete(req, err ? String(err.code) : null, bytes ?? 0, false);
      } catch (e) {
        this.failure ??= (e as Error).message;
      }
    };
  }

  promise(req: Req, p: Promise<number | void>): Promise<void> {
    return p.then(
      (bytes) => this.complete(req, null, bytes ?? 0, true),
      (err) => this.complete(req, err?.name === 'AbortError' ? 'ABORT' : String(err?.code ?? err), 0, true),
    ).catch((e) => {
      this.failure ??= (e as Error).message;
    });
  }

  submit(kind: Rw, off: number, len: number, parts: number, promise: boolean): Promise<void> | null {
    const req = this.begin(kind, off, len);
    const sizes = kind.endsWith('v') ? this.split(len, parts) : [len];
    const bufs = sizes.map((n) => this.buffer(n));
    if (req.data) {
      let at = 0;
      for (const b of bufs) {
        b.set(req.data.subarray(at, at + b.length));
        at += b.length;
      }
    } else req.bufs = bufs;
    const f = this.file;
    if (promise) {
      req.abort = new AbortController();
      const opts = { signal: req.abort.signal };
      const p = kind === 'read' ? f.promises.read(bufs[0], off, opts) : kind === 'write' ? f.promises.write(bufs[0], off, opts) : kind === 'readv' ? f.promises.readv(bufs, off, opts) : f.promises.writev(bufs, off, opts);
      return this.promise(req, p);
    }
    const cb = this.callback(req);
    req.aiocb = kind === 'read' ? f.read(bufs[0], off, cb) : kind === 'write' ? f.write(bufs[0], off, cb) : kind === 'readv' ? f.readv(bufs, off, cb) : f.writev(bufs, off, cb);
    if (req.aiocb.done) this.fail(`request ${req.id} is done at submission`);
    return null;
  }

  drive(blocking: boolean): void {
    ioCoverage.drives++;
    // Block only when a completion is sure to come; never on a timer of the stopped virtual clock.
    const block = blocking && [...this.inflight.values()].some((r) => r.aiocb !== null || r.abort !== null);
    this.inDriver = true;
    try {
      const call = () => (this.main ? this.main.iteration(block) : this.ctx.poll(block));
      if (block) guarded(this.ctx, call);
      else call();
    } catch (e) {
      this.fail(`a driver call threw ${(e as Error)?.message ?? e}`);
    } finally {
      this.inDriver = false;
    }
    if (this.failure !== null) this.fail(this.failure);
    for (const r of this.inflight.values()) {
      if (r.aiocb?.done) this.fail(`request ${r.id}: aiocb.done but its callback has not run`);
    }
  }

  vsleep(ns: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.ctx.timer('virtual', SCALE_NS, () => {
        t.delete();
        resolve();
      });
      t.modNs(virtualClock.now() + ns);
    });
  }

  spawn(steps: Step[], fail: boolean): void {
    const id = this.spawns.size;
    const token = `spawn#${id}`;
    const s = { token, settled: 0, fail };
    this.spawns.set(id, s);
    ioCoverage.spawns++;
    const body = async (): Promise<string> => {
      for (const step of steps) {
        if (step.s === 'bh') await this.ctx.nextBh();
        else if (step.s === 'vsleep') await this.vsleep(step.ns);
        else {
          const p = this.submit(step.rw, step.off, step.len, 1, true);
          await p;
        }
      }
      if (fail) throw new Error(token);
      return token;
    };
    this.ctx.spawn(body).then(
      (v) => {
        s.settled++;
        if (fail || v !== token) this.failure ??= `${token} resolved with ${String(v)}`;
      },
      (e) => {
        s.settled++;
        if (!fail || (e as Error)?.message !== token) this.failure ??= `${token} rejected with ${String(e)}`;
      },
    );
  }

  async exec(op: IoOp): Promise<void> {
    switch (op.op) {
      case 'read':
      case 'write':
      case 'readv':
      case 'writev':
        void this.submit(op.op, op.off, op.len, op.parts, op.promise);
        return;
      case 'flush':
      case 'discard': {
        const req = op.op === 'flush' ? this.begin('flush', 0, 0) : this.begin('discard', op.off, op.len);
        if (op.op === 'flush' && op.promise) {
          req.abort = new AbortController();
          void this.promise(req, this.file.promises.flush({ signal: req.abort.signal }));
          return;
        }
        const cb = this.callback(req);
        req.aiocb = op.op === 'flush' ? this.file.flush((err) => cb(err, 0)) : this.file.discard(op.off, op.len, (err) => cb(err, 0));
        return;
      }
      case 'cancel': {
        const live = [...this.inflight.values()].filter((r) => r.aiocb !== null || r.abort !== null);
        if (live.length === 0) return;
        const req = live[op.pick % live.length];
        req.cancelled = true;
        ioCoverage.cancels++;
        this.inDriver = false;
        if (req.aiocb) req.aiocb.cancel();
        else req.abort!.abort();
        if (this.failure !== null) this.fail(this.failure);
        return;
      }
      case 'closeBusy': {
        // Only a callback request not done is surely in flight: a promise's
        // request may have completed already, its promise settling later.
        if (![...this.inflight.values()].some((r) => r.aiocb !== null && !r.aiocb.done)) return;
        let code: string | undefined;
        try {
          this.file.close();
        } catch (e) {
          code = (e as { code?: string }).code;
        }
        if (code !== 'ERR_AIO_BUSY' || this.file.closed) this.fail(`file.close() with ${this.inflight.size} request(s) in flight: ${code ?? 'no error'}, closed ${this.file.closed}`);
        return;
      }
      case 'spawn':
        this.spawn(op.steps, op.fail);
        return;
      case 'drive':
        this.drive(op.blocking);
        return;
      case 'step':
        virtualClock.step(op.ns);
        return;
      case 'turn':
        await new Promise((resolve) => setImmediate(resolve));
        if (this.failure !== null) this.fail(this.failure);
        return;
    }
  }

  async finish(): Promise<void> {
    const start = Date.now();
    for (let round = 0; this.inflight.size > 0 || [...this.spawns.values()].some((s) => s.settled === 0); round++) {
      if (round > 20_000 && Date.now() - start > 20_000) {
        const reqs = [...this.inflight.values()].map((r) => `${r.id}:${r.kind}${r.cancelled ? '(cancelled)' : ''}${r.aiocb ? '' : '(promise)'}`).join(' ');
        this.fail(`did not settle in ${round} rounds, ${Date.now() - start} ms: request(s) ${reqs}; ${[...this.spawns.values()].filter((s) => s.settled === 0).length} spawn(s); pool ${JSON.stringify(this.ctx.threadPool.stats)}; file ${JSON.stringify(this.file.stats)}`);
      }
      virtualClock.step(1000);
      this.drive(true);
      await new Promise((resolve) => setImmediate(resolve));
      if (this.failure !== null) this.fail(this.failure);
    }
    for (const s of this.spawns.values()) if (s.settled !== 1) this.fail(`${s.token} settled ${s.settled} times`);
    const disk = Buffer.alloc(FILE_SIZE);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, disk, 0, FILE_SIZE, 0);
    } finally {
      closeSync(fd);
    }
    for (let i = 0; i < FILE_SIZE; i++) {
      if (!this.unknown[i] && disk[i] !== this.shadow[i]) this.fail(`the file holds ${disk[i]} at ${i} at the end, expected ${this.shadow[i]}`);
    }
  }

  dispose(): void {
    try {
      if (this.inflight.size === 0) {
        this.file.close();
        this.ctx.close();
      }
    } finally {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }
}

export interface IoFailure {
  seed: number;
  cfg: IoConfig;
  at: number;
  message: string;
}

/** Runs the trace of @seed; returns null or the divergence. */
export async function runIo(seed: number, length: number, cfg: IoConfig = drawConfig(seed)): Promise<IoFailure | null> {
  const ops = generateIo(seed, length, cfg.engine);
  const r = new IoRunner(cfg, seed);
  let at = 0;
  try {
    for (; at < ops.length; at++) await r.exec(ops[at]);
    at = ops.length;
    await r.finish();
    return null;
  } catch (e) {
    if (!(e instanceof Divergence)) throw e;
    // Let what is in flight finish, so that the next run starts clean.
    try {
      await r.finish();
    } catch {
      /* reported already */
    }
    return { seed, cfg, at, message: e.message };
  } finally {
    r.dispose();
  }
}

export function formatIoFailure(f: IoFailure, length: number): string {
  return `fuzz-io divergence (seed ${f.seed}, engine ${f.cfg.engine}, driver ${f.cfg.driver}) at op ${f.at}: ${f.message}\n` +
    `  replay: npm run fuzz -- --io --seed ${f.seed} --runs 1 --length ${length} --engine ${f.cfg.engine} --driver ${f.cfg.driver}`;
}

export interface IoCampaign {
  ops: number;
  runs: number;
  ms: number;
  failures: IoFailure[];
}

/** Runs traces from @seed on until @totalOps ops or @budgetMs ms. */
export async function campaignIo(opts: {
  seed: number; totalOps: number; budgetMs?: number; length?: number; engine?: Engine; driver?: IoDriver; maxFailures?: number;
}): Promise<IoCampaign> {
  const length = opts.length ?? 150;
  const start = Date.now();
  const out: IoCampaign = { ops: 0, runs: 0, ms: 0, failures: [] };
  for (let seed = opts.seed; out.ops < opts.totalOps; seed++) {
    if (opts.budgetMs !== undefined && Date.now() - start >= opts.budgetMs) break;
    const drawn = drawConfig(seed);
    const cfg = { engine: opts.engine ?? drawn.engine, driver: opts.driver ?? drawn.driver };
    const f = await runIo(seed, length, cfg);
    out.runs++;
    out.ops += length;
    if (f) {
      out.failures.push(f);
      if (out.failures.length >= (opts.maxFailures ?? 1)) break;
    }
  }
  out.ms = Date.now() - start;
  return out;
}
