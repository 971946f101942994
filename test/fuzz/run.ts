/*
 * run.ts — the executor, the checker and the shrinker.
 *
 * runTrace() applies a trace to a real AioContext and to the model
 * (model.ts) in lockstep: every op's outcome (its return value, or the
 * AioError code it throws), every callback (which one, and when), and every
 * poll()/iteration() result (its return value, or exactly the errors the
 * callbacks threw) is checked.  The first difference ends the run with a
 * Failure.  shrink() then removes ops and callback actions (delta debugging)
 * while the trace still fails, and formatFailure() prints the seed, the fd
 * monitor, the driver and the minimal trace.
 */
import { readSync, writeSync, closeSync } from 'node:fs';
import { AioContext, AioError, EventNotifier, MainContext, SCALE_NS, pipe, virtualClock } from 'aiocontext';
import type { BottomHalf, Timer } from 'aiocontext';
import { Divergence, Model, describe, type Event, type Frame, type MBh, type MTimer } from './model';
import {
  TraceGenerator,
  NOTIFIERS,
  PIPES,
  Prng,
  children,
  format,
  formatTrace,
  slotKind,
  slotName,
  type Actions,
  type Driver,
  type Fdmon,
  type Op,
} from './ops';
import { guarded } from './watchdog';

/** FUZZ_TRACE=1 prints each top-level op as it runs (to find a hang). */
const TRACE = process.env.FUZZ_TRACE === '1';

/** Nested poll() calls deeper than this are skipped (by the model too). */
const MAX_DEPTH = 3;

export interface RunConfig {
  fdmon: Fdmon;
  driver: Driver;
}

export interface Failure {
  message: string;
  /** Index of the top-level op during which it diverged. */
  at: number;
}

/** What a callback throws when its actions end with 'throw'. */
class FuzzThrow extends Error {
  constructor(readonly tag: string) {
    super(`boom from ${tag}`);
  }
}

/** What the runs exercised (printed by the CLI, so a quiet fuzzer is seen to work). */
export const coverage = { callbacks: 0, polls: 0, nestedPolls: 0, iterations: 0, spuriousIterations: 0, throws: 0, aggregates: 0, closes: 0 };

let shared: MainContext | null = null;

/** One MainContext for every gsource run (GLib keeps it light when empty). */
function mainContext(): MainContext {
  shared ??= new MainContext();
  return shared;
}

function code(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  if (err instanceof AioError || (err instanceof Error && typeof c === 'string')) return String(c);
  return err instanceof Error ? err.name : String(err);
}

function show(err: unknown): string {
  if (err instanceof FuzzThrow) return `Error('${err.message}')`;
  if (err instanceof AggregateError) return `AggregateError[${err.errors.map(show).join(', ')}]`;
  return err instanceof Error ? `${err.name} ${code(err)}: ${err.message}` : String(err);
}

/** Runs one trace; returns the first divergence, or null. */
export function runTrace(ops: readonly Op[], cfg: RunConfig): Failure | null {
  const ex = new Executor(cfg);
  try {
    return ex.run(ops);
  } finally {
    ex.dispose();
  }
}

class Executor {
  readonly model: Model;
  ctx: AioContext;
  readonly main: MainContext | null;
  readonly pipes: [number, number][] = [];
  readonly notifiers: EventNotifier[] = [];
  readonly bhs = new Map<number, BottomHalf>();
  readonly timers = new Map<number, Timer>();
  readonly base: number;
  failure: string | null = null;
  depth = 0;
  lastSpurious = false;

  constructor(private readonly cfg: RunConfig) {
    if (!virtualClock.stopped) virtualClock.stop();
    this.model = new Model(
      NOTIFIERS,
      cfg.fdmon === 'io_uring' || (cfg.fdmon === 'auto' && cfg.driver === 'poll'),
      cfg.fdmon === 'io_uring' || cfg.fdmon === 'epoll',
    );
    this.base = virtualClock.now();
    this.ctx = new AioContext({ fdmon: cfg.fdmon, name: 'fuzz' });
    this.main = cfg.driver === 'gsource' ? mainContext() : null;
    for (let i = 0; i < PIPES; i++) this.pipes.push(pipe());
    for (let i = 0; i < NOTIFIERS; i++) this.notifiers.push(new EventNotifier());
  }

  dispose(): void {
    this.#quietClose();
    for (const [r, w] of this.pipes) {
      closeSync(r);
      closeSync(w);
    }
    for (const n of this.notifiers) n.close();
  }

  #quietClose(): void {
    const emit = process.emitWarning;
    process.emitWarning = () => {};
    try {
      this.ctx.close();
    } finally {
      process.emitWarning = emit;
    }
  }

  run(ops: readonly Op[]): Failure | null {
    for (let i = 0; i < ops.length; i++) {
      if (TRACE) console.error(`[${i}] ${format(ops[i])}`);
      try {
        this.exec(ops[i]);
        if (this.failure === null && ops[i].op !== 'iteration') this.lastSpurious = false;
        if (this.failure === null) this.#checkTopLevel();
      } catch (err) {
        if (this.failure === null) this.failure = err instanceof Divergence ? err.message : `uncaught ${show(err)}\n${(err as Error).stack ?? ''}`;
      }
      if (this.failure !== null) return { message: this.failure, at: i };
    }
    return null;
  }

  #fdOf(slot: number): number {
    const kind = slotKind(slot);
    if (kind === 'pipe-read') return this.pipes[slot][0];
    if (kind === 'pipe-write') return this.pipes[slot - PIPES][1];
    return this.notifiers[slot - PIPES * 2].fd;
  }

  /** Runs @fn, which must throw an error with @expected code (null: must not throw). */
  #outcome<T>(what: string, expected: string | readonly string[] | null, fn: () => T): T | undefined {
    let value: T | undefined;
    let thrown: unknown = undefined;
    let threw = false;
    try {
      value = fn();
    } catch (err) {
      threw = true;
      thrown = err;
    }
    const allowed = expected === null ? [] : typeof expected === 'string' ? [expected] : expected;
    if (threw) {
      if (!allowed.includes(code(thrown))) throw new Divergence(`${what} threw ${show(thrown)}; expected ${allowed.length ? allowed.join(' or ') : 'no error'}`);
    } else if (allowed.length > 0 && !allowed.includes('ok')) {
      throw new Divergence(`${what} did not throw; expected ${allowed.join(' or ')}`);
    }
    return value;
  }

  /* ---- callbacks ---------------------------------------------------------------- */

  /** The function given to the real context for @ev, running @actions. */
  #callback(ev: Event, actions: Actions, check?: (args: unknown[]) => void): (...args: unknown[]) => void {
    return (...args: unknown[]) => {
      if (this.failure !== null) return;
      const frame = this.model.top;
      try {
        if (TRACE) console.error(`${'  '.repeat(this.depth + 1)}-> ${describe(ev)} (frame depth ${this.model.frames.length - 1})`);
        this.model.expect(ev);
        coverage.callbacks++;
        check?.(args);
        this.depth++;
        try {
          for (const a of actions) {
            if (a.op === 'throw') break;
            this.exec(a);
            if (this.failure !== null) return;
          }
        } finally {
          this.depth--;
        }
      } catch (err) {
        if (this.failure === null) this.failure = err instanceof Divergence ? err.message : `uncaught in ${describe(ev)}: ${show(err)}\n${(err as Error).stack ?? ''}`;
        return;
      }
      if (actions.length > 0 && actions[actions.length - 1].op === 'throw' && frame !== undefined) {
        const tag = `${describe(ev)} in frame ${frame.depth} #${frame.ran}`;
        frame.errors.push(tag);
        throw new FuzzThrow(tag);
      }
    };
  }

  /* ---- ops ------------------------------------------------------------------------ */

  #bh(id: number): { m: MBh; r: BottomHalf; expect: string | null } | null {
    const m = this.model.bhs.get(id);
    const r = this.bhs.get(id);
    if (m === undefined || r === undefined) return null;
    if (m.epoch !== this.model.epoch) return { m, r, expect: 'ERR_AIO_CLOSED' };
    return { m, r, expect: m.deleted ? 'ERR_AIO_DELETED' : null };
  }

  #timer(id: number): { m: MTimer; r: Timer; expect: string | null } | null {
    const m = this.model.timers.get(id);
    const r = this.timers.get(id);
    if (m === undefined || r === undefined) return null;
    if (m.epoch !== this.model.epoch) return { m, r, expect: 'ERR_AIO_CLOSED' };
    return { m, r, expect: m.deleted ? 'ERR_AIO_DELETED' : null };
  }

  exec(op: Op): void {
    const model = this.model;
    const ctx = this.ctx;
    const what = format(op).split('\n')[0];
    switch (op.op) {
      case 'bhNew': {
        if (this.depth > 0 || this.bhs.has(op.bh)) return;
        const m = model.bhNew(op.bh, op.cb);
        this.bhs.set(op.bh, ctx.bh(this.#callback({ kind: 'bh', key: m.key }, op.cb), { name: m.key }));
        return;
      }
      case 'bhSchedule':
      case 'bhCancel': {
        const b = this.#bh(op.bh);
        if (b === null) return;
        if (b.expect === null) {
          if (op.op === 'bhSchedule') model.bhSchedule(b.m);
          else model.bhCancel(b.m);
        }
        this.#outcome(what, b.expect, () => (op.op === 'bhSchedule' ? b.r.schedule() : b.r.cancel()));
        if (this.depth === 0 && b.expect === null && b.r.scheduled !== b.m.scheduled) {
          throw new Divergence(`after ${what}: bh${op.bh}.scheduled is ${b.r.scheduled}, expected ${b.m.scheduled}`);
        }
        return;
      }
      case 'bhDelete': {
        const b = this.#bh(op.bh);
        if (b === null) return;
        // A second delete() does nothing.  On a closed context: ERR_AIO_CLOSED
        // (bottom-half.ts) or nothing (API.md "Additions"): either.
        const expect = b.expect === 'ERR_AIO_CLOSED' ? ['ERR_AIO_CLOSED', 'ok'] : null;
        if (b.expect === null) model.bhDelete(b.m);
        this.#outcome(what, expect, () => b.r.delete());
        if (!b.r.deleted) throw new Divergence(`after ${what}: bh${op.bh}.deleted is false`);
        return;
      }
      case 'oneshot': {
        const m = model.oneshot(op.cb);
        ctx.scheduleOneshot(this.#callback({ kind: 'bh', key: m.key }, op.cb));
        return;
      }
      case 'timerNew': {
        if (this.depth > 0 || this.timers.has(op.t)) return;
        model.timerNew(op.t, op.cb);
        this.timers.set(op.t, ctx.timer('virtual', SCALE_NS, this.#callback({ kind: 'timer', id: op.t }, op.cb)));
        return;
      }
      case 'timerMod':
      case 'timerModAnticipate':
      case 'timerDel':
      case 'timerDelete': {
        const t = this.#timer(op.t);
        if (t === null) return;
        if (op.op === 'timerDelete') {
          const expect = t.expect === 'ERR_AIO_CLOSED' ? ['ERR_AIO_CLOSED', 'ok'] : null;
          if (t.expect === null) model.timerDelete(t.m);
          this.#outcome(what, expect, () => t.r.delete());
          return;
        }
        const at = this.base + model.now + ('delta' in op ? op.delta : 0);
        if (t.expect === null) {
          if (op.op === 'timerMod') model.timerMod(t.m, op.delta);
          else if (op.op === 'timerModAnticipate') model.timerModAnticipate(t.m, op.delta);
          else model.timerDel(t.m);
        }
        this.#outcome(what, t.expect, () => {
          if (op.op === 'timerMod') t.r.mod(at);
          else if (op.op === 'timerModAnticipate') t.r.modAnticipate(at);
          else t.r.del();
        });
        if (t.expect === null) {
          const want = t.m.expire < 0 ? -1 : this.base + t.m.expire;
          if (t.r.expireTime !== want || t.r.pending !== t.m.expire >= 0) {
            throw new Divergence(`after ${what}: t${op.t}.expireTime is ${t.r.expireTime} (pending ${t.r.pending}), expected ${want}`);
          }
        }
        return;
      }
      case 'setFd': {
        const node = model.setHandler(op.slot, false, op.read, op.write, op.external);
        const fd = this.#fdOf(op.slot);
        if (node === null) {
          ctx.setFdHandler(fd, null);
          return;
        }
        const h: { read?: () => void; write?: () => void; external?: boolean } = { external: op.external };
        if (op.read) h.read = this.#callback({ kind: 'read', serial: node.serial, slot: op.slot }, op.read);
        if (op.write) h.write = this.#callback({ kind: 'write', serial: node.serial, slot: op.slot }, op.write);
        ctx.setFdHandler(fd, h);
        return;
      }
      case 'setNotifier': {
        const slot = PIPES * 2 + op.n;
        const node = model.setHandler(slot, true, op.read, undefined, op.external);
        const n = this.notifiers[op.n];
        const read = this.#callback({ kind: 'read', serial: node!.serial, slot }, op.read, (args) => {
          if (args[0] !== n) throw new Divergence(`the read handler of n${op.n} received ${String(args[0])}, not n${op.n}`);
        });
        ctx.setEventNotifier(n, { read, external: op.external });
        return;
      }
      case 'removeFd': {
        model.setHandler(op.slot, false, undefined, undefined, false);
        if (op.viaNotifier && slotKind(op.slot) === 'eventfd') ctx.setEventNotifier(this.notifiers[op.slot - PIPES * 2], null);
        else ctx.setFdHandler(this.#fdOf(op.slot), null);
        return;
      }
      case 'pipeWrite': {
        if (!model.pipeWrite(op.p, op.bytes)) return;
        const n = writeSync(this.pipes[op.p][1], Buffer.alloc(op.bytes));
        if (n !== op.bytes) throw new Divergence(`${what} wrote ${n} bytes`);
        return;
      }
      case 'pipeDrain': {
        const want = model.pipeDrain(op.p, op.bytes);
        let got = 0;
        try {
          got = readSync(this.pipes[op.p][0], Buffer.alloc(op.bytes), 0, op.bytes, null);
        } catch (err) {
          if (code(err) !== 'EAGAIN') throw err;
        }
        if (got !== want) throw new Divergence(`${what} read ${got} bytes from ${slotName(op.p)}, expected ${want}`);
        return;
      }
      case 'notifierSet':
        model.notifierSetOn(op.n);
        this.notifiers[op.n].set();
        return;
      case 'notifierClear': {
        const want = model.notifierSet[op.n];
        model.notifierSet[op.n] = false;
        const got = this.notifiers[op.n].testAndClear();
        if (got !== want) throw new Divergence(`${what} returned ${got}, expected ${want}`);
        return;
      }
      case 'disableExternal':
        if (model.external === 0) model.externalChanged();
        model.external++;
        ctx.disableExternal();
        if (!ctx.externalDisabled) throw new Divergence(`after ${what}: externalDisabled is false`);
        return;
      case 'enableExternal': {
        const expect = model.external === 0 ? 'ERR_AIO_NOT_DISABLED' : null;
        if (expect === null) model.external--;
        if (expect === null && model.external === 0) model.externalChanged();
        this.#outcome(what, expect, () => ctx.enableExternal());
        if (ctx.externalDisabled !== model.external > 0) throw new Divergence(`after ${what}: externalDisabled is ${ctx.externalDisabled}`);
        return;
      }
      case 'notify':
        ctx.notify();
        return;
      case 'computeTimeout': {
        if (this.depth > 0) return;
        const got = ctx.computeTimeout();
        const want = model.computeTimeout();
        if (got !== want) throw new Divergence(`${what} returned ${got}, expected ${want}`);
        return;
      }
      case 'step':
        if (this.depth > 0) return;
        model.now += op.ns;
        virtualClock.step(op.ns);
        return;
      case 'poll':
        this.#poll(op.blocking);
        return;
      case 'iteration':
        if (this.depth > 0 || this.main === null) return;
        this.#iteration(op.mayBlock);
        return;
      case 'attach':
        if (this.main === null || this.depth > 0) return;
        this.#outcome(what, model.attached ? 'ERR_AIO_ATTACHED' : null, () => ctx.attach(this.main!));
        model.attached = true;
        return;
      case 'detach':
        if (this.main === null || this.depth > 0 || !model.attached) return;
        ctx.detach();
        model.attached = false;
        model.bit0 = false; // no GLib waiter once the source is gone
        return;
      case 'close':
        if (this.depth > 0) return;
        this.#close();
        return;
      case 'throw':
        return;
    }
  }

  #checkResult(what: string, f: Frame, ret: boolean | undefined, thrown: unknown): void {
    if (f.errors.length === 0) {
      if (thrown !== undefined) throw new Divergence(`${what} threw ${show(thrown)}, but no callback threw`);
      return;
    }
    coverage.throws += f.errors.length;
    if (f.errors.length > 1) coverage.aggregates++;
    if (f.errors.length === 1) {
      if (!(thrown instanceof FuzzThrow) || thrown.tag !== f.errors[0]) {
        throw new Divergence(`${what} ${thrown === undefined ? `returned ${ret}` : `threw ${show(thrown)}`}; expected it to throw what ${f.errors[0]} threw`);
      }
      return;
    }
    const tags = thrown instanceof AggregateError ? thrown.errors.map((e: unknown) => (e instanceof FuzzThrow ? e.tag : show(e))) : null;
    if (tags === null || tags.join('|') !== f.errors.join('|')) {
      throw new Divergence(`${what} ${thrown === undefined ? `returned ${ret}` : `threw ${show(thrown)}`}; expected an AggregateError of [${f.errors.join(', ')}]`);
    }
  }

  #poll(blocking: boolean): void {
    if (this.depth >= MAX_DEPTH) return;
    const model = this.model;
    const ctx = this.ctx;
    // A blocking poll with nothing due would sleep forever: notify() first,
    // after which poll(true) returns false at once (README "Progress").
    if (blocking && !model.workDue()) ctx.notify();
    if (this.depth > 0) coverage.nestedPolls++;
    else coverage.polls++;
    const f = model.beginPoll();
    let ret: boolean | undefined;
    let thrown: unknown = undefined;
    try {
      ret = blocking ? guarded(ctx, () => ctx.poll(true)) : ctx.poll(false);
    } catch (err) {
      thrown = err;
    }
    if (this.failure !== null) return;
    model.endFrame(f, true);
    const what = `ctx.poll(${blocking}) at depth ${this.depth}`;
    this.#checkResult(what, f, ret, thrown);
    if (thrown === undefined && ret !== f.ran > 0) {
      throw new Divergence(`${what} returned ${ret}, but ${f.ran} callbacks ran`);
    }
  }

  #iteration(mayBlock: boolean): void {
    const model = this.model;
    const main = this.main!;
    if (mayBlock && (!model.attached || !model.workDue())) main.wakeup();
    const spuriousBefore = this.lastSpurious;
    coverage.iterations++;
    const f = model.beginIteration();
    let ret: boolean | undefined;
    let thrown: unknown = undefined;
    try {
      ret = mayBlock && model.attached ? guarded(this.ctx, () => main.iteration(true)) : main.iteration(mayBlock);
    } catch (err) {
      thrown = err;
    }
    if (this.failure !== null) return;
    const what = `main.iteration(${mayBlock})`;
    if (f === null) {
      if (thrown !== undefined || ret !== false) throw new Divergence(`${what} while detached ${thrown ? `threw ${show(thrown)}` : `returned ${ret}`}`);
      return;
    }
    model.endFrame(f, thrown !== undefined || ret === true);
    this.#checkResult(what, f, ret, thrown);
    if (thrown !== undefined) {
      this.lastSpurious = false;
      return;
    }
    if (f.ran > 0 && ret !== true) throw new Divergence(`${what} returned ${ret}, but ${f.ran} callbacks ran`);
    if (f.dispatch === 'yes' && ret !== true) throw new Divergence(`${what} returned ${ret}, but a BH, timer or fd was due`);
    // GLib's "extra iteration" (SEMANTICS.md §1): a wake-up alone may make
    // one iteration return true; the next, with nothing done in between,
    // finds the eventfd drained and bit 0 cleared.
    const spurious = ret === true && f.ran === 0;
    if (spurious && spuriousBefore) throw new Divergence(`${what} returned true with no callback twice in a row`);
    this.lastSpurious = spurious;
    if (spurious) coverage.spuriousIterations++;
  }

  #close(): void {
    const model = this.model;
    const leaked = model.leakedBhs();
    coverage.closes++;
    const warnings: string[] = [];
    const emit = process.emitWarning;
    process.emitWarning = ((w: string | Error) => {
      warnings.push(String(w));
    }) as typeof process.emitWarning;
    try {
      this.ctx.close();
    } finally {
      process.emitWarning = emit;
    }
    if (leaked > 0 && !warnings.some((w) => w.includes('never deleted'))) {
      throw new Divergence(`ctx.close() with ${leaked} BHs never deleted emitted no AioLeakWarning`);
    }
    model.close();
    this.ctx = new AioContext({ fdmon: this.cfg.fdmon, name: 'fuzz' });
    if (this.main !== null) {
      this.ctx.attach(this.main);
      model.attached = true;
    }
  }

  #checkTopLevel(): void {
    const s = this.ctx.stats;
    const want = this.model.bit0 ? 1 : 0;
    if (s.notifyMe !== want) throw new Divergence(`stats.notifyMe is ${s.notifyMe}, expected ${want} (bit 0 ${this.model.bit0 ? 'set by a prepare that skipped check' : 'clear'})`);
  }
}

/* ---- campaign, shrinking, reporting -------------------------------------------- */

export function generate(seed: number, length: number, driver: Driver): Op[] {
  return new TraceGenerator(new Prng(seed), driver).trace(length);
}

function without<T>(list: readonly T[], from: number, to: number): T[] {
  return [...list.slice(0, from), ...list.slice(to)];
}

/** Every trace one step simpler than @ops inside callbacks (one action fewer, or a flag cleared). */
function* simpler(ops: readonly Op[]): Generator<Op[]> {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const lists = children(op);
    for (let l = 0; l < lists.length; l++) {
      for (let j = 0; j < lists[l].length; j++) {
        const copy = structuredClone(op);
        children(copy)[l].splice(j, 1);
        yield [...ops.slice(0, i), copy, ...ops.slice(i + 1)];
      }
      for (const sub of simpler(lists[l])) {
        const copy = structuredClone(op);
        children(copy)[l].splice(0, lists[l].length, ...sub);
        yield [...ops.slice(0, i), copy, ...ops.slice(i + 1)];
      }
    }
    if ((op.op === 'setFd' || op.op === 'setNotifier') && op.external) {
      yield [...ops.slice(0, i), { ...op, external: false }, ...ops.slice(i + 1)];
    }
  }
}

/**
 * Delta debugging: removes chunks of top-level ops, then callback actions,
 * while the trace still fails.  Bounded by @budgetMs.
 */
export function shrink(
  ops: readonly Op[],
  cfg: RunConfig,
  budgetMs = 60_000,
  run: (ops: readonly Op[], cfg: RunConfig) => Failure | null = runTrace,
): { ops: Op[]; failure: Failure } {
  const deadline = Date.now() + budgetMs;
  let best = [...ops];
  let failure = run(best, cfg);
  if (failure === null) throw new Error('shrink: the trace does not fail');
  best = best.slice(0, failure.at + 1);
  const tryTrace = (candidate: Op[]): boolean => {
    const f = run(candidate, cfg);
    if (f === null) return false;
    best = candidate.slice(0, f.at + 1);
    failure = f;
    return true;
  };
  let chunk = Math.max(1, Math.floor(best.length / 2));
  while (chunk >= 1 && Date.now() < deadline) {
    let removed = false;
    for (let i = 0; i < best.length && Date.now() < deadline; ) {
      if (tryTrace(without(best, i, i + chunk))) removed = true;
      else i += chunk;
    }
    if (!removed) chunk = Math.floor(chunk / 2);
  }
  let progress = true;
  while (progress && Date.now() < deadline) {
    progress = false;
    for (const candidate of simpler(best)) {
      if (Date.now() >= deadline) break;
      if (tryTrace(candidate)) {
        progress = true;
        break;
      }
    }
  }
  return { ops: best, failure: failure! };
}

export interface CampaignResult {
  ops: number;
  runs: number;
  ms: number;
  failures: { seed: number; report: string; ops: Op[] }[];
}

/**
 * Runs traces of @length ops, seeds derived from @seed, until @totalOps ops
 * ran or @budgetMs passed; shrinks and reports each failing seed (at most
 * @maxFailures).
 */
export function campaign(
  cfg: RunConfig,
  opts: { seed: number; totalOps: number; length?: number; budgetMs?: number; maxFailures?: number; shrinkMs?: number; onFailure?: (report: string) => void },
): CampaignResult {
  const length = opts.length ?? 200;
  const start = Date.now();
  const result: CampaignResult = { ops: 0, runs: 0, ms: 0, failures: [] };
  for (let i = 0; result.ops < opts.totalOps; i++) {
    if (opts.budgetMs !== undefined && Date.now() - start > opts.budgetMs) break;
    const seed = (opts.seed + i) >>> 0;
    const ops = generate(seed, length, cfg.driver);
    const failure = runTrace(ops, cfg);
    result.ops += failure === null ? ops.length : failure.at + 1;
    result.runs++;
    if (failure !== null) {
      const small = shrink(ops, cfg, opts.shrinkMs);
      const report = formatFailure(seed, cfg, small.ops, small.failure, length);
      opts.onFailure?.(report);
      result.failures.push({ seed, report, ops: small.ops });
      if (result.failures.length >= (opts.maxFailures ?? 1)) break;
    }
  }
  result.ms = Date.now() - start;
  return result;
}

export function formatFailure(seed: number | null, cfg: RunConfig, ops: readonly Op[], failure: Failure, length = 200): string {
  const replay = seed === null ? '' : `; replay: npm run fuzz -- --seed ${seed} --fdmon ${cfg.fdmon} --driver ${cfg.driver} --length ${length} --runs 1`;
  return [
    `DIVERGENCE ${seed === null ? '' : `seed ${seed} `}fdmon ${cfg.fdmon} driver ${cfg.driver}: ${failure.message}`,
    `  (at op ${failure.at + 1} of ${ops.length} of the shrunk trace${replay})`,
    formatTrace(ops, cfg.fdmon, cfg.driver)
      .split('\n')
      .map((l) => `  ${l}`)
      .join('\n'),
  ].join('\n');
}
