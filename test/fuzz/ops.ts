/*
 * ops.ts — the fuzzer's operations: their shape, random generation from a
 * seeded PRNG, and printing as JS-like lines.
 *
 * A trace is a list of top-level ops.  Callbacks (BHs, timers, fd and
 * notifier handlers) carry their own short list of actions, which are ops
 * too, fixed when the callback is made: running a trace twice does the same
 * thing.  Objects are named by small ids (bh3, t1) and fd slots (p0: the
 * read end of pipe 0, w0: its write end, e0: event notifier 0's eventfd);
 * an op naming an object that the trace never made (the shrinker removed its
 * creation) does nothing.
 */

export const PIPES = 3;
export const NOTIFIERS = 2;
/** fd slots: pipe read ends, pipe write ends, notifier eventfds. */
export const SLOTS = PIPES * 2 + NOTIFIERS;
/** Pipes hold at most this many bytes: a write beyond is skipped (never EAGAIN). */
export const PIPE_CAP = 4096;

export type SlotKind = 'pipe-read' | 'pipe-write' | 'eventfd';

export function slotKind(slot: number): SlotKind {
  if (slot < PIPES) return 'pipe-read';
  if (slot < PIPES * 2) return 'pipe-write';
  return 'eventfd';
}

export function slotName(slot: number): string {
  const kind = slotKind(slot);
  if (kind === 'pipe-read') return `p${slot}`;
  if (kind === 'pipe-write') return `w${slot - PIPES}`;
  return `e${slot - PIPES * 2}`;
}

export type Actions = Op[];

export type Op =
  | { op: 'bhNew'; bh: number; cb: Actions }
  | { op: 'bhSchedule' | 'bhCancel' | 'bhDelete'; bh: number }
  | { op: 'oneshot'; cb: Actions }
  | { op: 'timerNew'; t: number; cb: Actions }
  | { op: 'timerMod' | 'timerModAnticipate'; t: number; delta: number }
  | { op: 'timerDel' | 'timerDelete'; t: number }
  | { op: 'setFd'; slot: number; read?: Actions; write?: Actions; external: boolean }
  | { op: 'setNotifier'; n: number; read: Actions; external: boolean }
  | { op: 'removeFd'; slot: number; viaNotifier: boolean }
  | { op: 'pipeWrite' | 'pipeDrain'; p: number; bytes: number }
  | { op: 'notifierSet' | 'notifierClear'; n: number }
  | { op: 'disableExternal' | 'enableExternal' | 'notify' | 'computeTimeout' }
  | { op: 'step'; ns: number }
  | { op: 'poll'; blocking: boolean }
  | { op: 'iteration'; mayBlock: boolean }
  | { op: 'attach' | 'detach' | 'close' | 'throw' };

export type Driver = 'poll' | 'gsource';
export type Fdmon = 'poll' | 'epoll' | 'io_uring' | 'auto';
export const FDMONS: readonly Fdmon[] = ['poll', 'epoll', 'io_uring', 'auto'];
export const DRIVERS: readonly Driver[] = ['poll', 'gsource'];

/* ---- PRNG ------------------------------------------------------------------ */

/** xoshiro128**, seeded through splitmix32: small, fast, good enough. */
export class Prng {
  #s = new Uint32Array(4);

  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  next(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/* ---- generation ------------------------------------------------------------ */

type Weighted = readonly (readonly [number, () => Op | null])[];

function choose(rng: Prng, table: Weighted): Op {
  const total = table.reduce((sum, [w]) => sum + w, 0);
  for (;;) {
    let r = rng.int(total);
    for (const [w, make] of table) {
      if (r < w) {
        const op = make();
        if (op !== null) return op;
        break;
      }
      r -= w;
    }
  }
}

/** Generates traces of one driver; ids count up across a trace. */
export class TraceGenerator {
  #bhs = 0;
  #timers = 0;

  constructor(
    private readonly rng: Prng,
    private readonly driver: Driver,
  ) {}

  trace(length: number): Op[] {
    const ops: Op[] = [];
    if (this.driver === 'gsource') ops.push({ op: 'attach' });
    while (ops.length < length) ops.push(this.topLevel());
    return ops;
  }

  #bh(): number {
    return this.#bhs === 0 ? 0 : this.rng.int(this.#bhs);
  }

  #timer(): number {
    return this.#timers === 0 ? 0 : this.rng.int(this.#timers);
  }

  /** Actions of a callback: 0-3 ops, sometimes ending with a throw. */
  #actions(self: Op | null, readSlot: number | null): Actions {
    const rng = this.rng;
    const out: Actions = [];
    const n = rng.pick([0, 1, 1, 2, 2, 3]);
    for (let i = 0; i < n; i++) out.push(this.#action(self, readSlot));
    if (rng.chance(0.06)) out.push({ op: 'throw' });
    return out;
  }

  #action(self: Op | null, readSlot: number | null): Op {
    const rng = this.rng;
    return choose(rng, [
      [readSlot === null ? 0 : 6, () => drainOf(readSlot!, rng)],
      [4, () => ({ op: 'bhSchedule', bh: self?.op === 'bhNew' && rng.chance(0.5) ? self.bh : this.#bh() })],
      [1, () => ({ op: 'bhCancel', bh: this.#bh() })],
      [2, () => ({ op: 'bhDelete', bh: self?.op === 'bhNew' && rng.chance(0.5) ? self.bh : this.#bh() })],
      [2, () => ({ op: 'oneshot', cb: rng.chance(0.5) ? [] : [{ op: 'bhSchedule', bh: this.#bh() }] })],
      [3, () => ({ op: rng.chance(0.8) ? 'timerMod' : 'timerModAnticipate', t: self?.op === 'timerNew' && rng.chance(0.5) ? self.t : this.#timer(), delta: 1 + rng.int(20) })],
      [1, () => ({ op: 'timerDel', t: this.#timer() })],
      [1, () => ({ op: 'timerDelete', t: self?.op === 'timerNew' && rng.chance(0.5) ? self.t : this.#timer() })],
      [2, () => ({ op: 'removeFd', slot: readSlot !== null && rng.chance(0.5) ? readSlot : rng.int(SLOTS), viaNotifier: rng.chance(0.3) })],
      [1, () => this.#setFd([], [])],
      [2, () => ({ op: 'pipeWrite', p: rng.int(PIPES), bytes: 1 + rng.int(3) })],
      [1, () => ({ op: 'notifierSet', n: rng.int(NOTIFIERS) })],
      [3, () => ({ op: 'poll', blocking: rng.chance(0.2) })],
      [1, () => ({ op: rng.chance(0.5) ? 'disableExternal' : 'enableExternal' })],
      [1, () => ({ op: 'notify' })],
    ]);
  }

  #setFd(read: Actions | null, write: Actions | null): Op {
    const rng = this.rng;
    const slot = rng.int(SLOTS);
    const kind = slotKind(slot);
    const external = rng.chance(0.25);
    if (kind === 'pipe-read') return { op: 'setFd', slot, read: read ?? this.#actions(null, slot), external };
    if (kind === 'pipe-write') return { op: 'setFd', slot, write: write ?? this.#actions(null, null), external };
    if (rng.chance(0.4)) {
      return { op: 'setNotifier', n: slot - PIPES * 2, read: read ?? this.#actions(null, slot), external };
    }
    const op: Op = { op: 'setFd', slot, external };
    const which = rng.int(3);
    if (which !== 1) op.read = read ?? this.#actions(null, slot);
    if (which !== 0) op.write = write ?? this.#actions(null, null);
    return op;
  }

  topLevel(): Op {
    const rng = this.rng;
    const gsource = this.driver === 'gsource';
    const table: Weighted = [
      [4, () => {
        const op: Op = { op: 'bhNew', bh: this.#bhs++, cb: [] };
        op.cb = this.#actions(op, null);
        return op;
      }],
      [9, () => ({ op: 'bhSchedule', bh: this.#bh() })],
      [2, () => ({ op: 'bhCancel', bh: this.#bh() })],
      [2, () => ({ op: 'bhDelete', bh: this.#bh() })],
      [2, () => ({ op: 'oneshot', cb: this.#actions(null, null) })],
      [3, () => {
        const op: Op = { op: 'timerNew', t: this.#timers++, cb: [] };
        op.cb = this.#actions(op, null);
        return op;
      }],
      [6, () => ({ op: rng.chance(0.8) ? 'timerMod' : 'timerModAnticipate', t: this.#timer(), delta: rng.int(30) })],
      [1, () => ({ op: 'timerDel', t: this.#timer() })],
      [1, () => ({ op: 'timerDelete', t: this.#timer() })],
      [4, () => ({ op: 'step', ns: rng.pick([1, 2, 5, 10, 30]) })],
      [5, () => this.#setFd(null, null)],
      [2, () => ({ op: 'removeFd', slot: rng.int(SLOTS), viaNotifier: rng.chance(0.3) })],
      [5, () => ({ op: 'pipeWrite', p: rng.int(PIPES), bytes: 1 + rng.int(3) })],
      [2, () => ({ op: 'pipeDrain', p: rng.int(PIPES), bytes: 1 + rng.int(4) })],
      [2, () => ({ op: 'notifierSet', n: rng.int(NOTIFIERS) })],
      [1, () => ({ op: 'notifierClear', n: rng.int(NOTIFIERS) })],
      [1, () => ({ op: 'disableExternal' })],
      [1, () => ({ op: 'enableExternal' })],
      [1, () => ({ op: 'notify' })],
      [1, () => ({ op: 'computeTimeout' })],
      [gsource ? 4 : 16, () => ({ op: 'poll', blocking: rng.chance(0.3) })],
      [gsource ? 14 : 0, () => ({ op: 'iteration', mayBlock: rng.chance(0.2) })],
      [gsource ? 1 : 0, () => ({ op: rng.chance(0.5) ? 'detach' : 'attach' })],
      [1, () => ({ op: 'close' })],
    ];
    return choose(rng, table);
  }
}

function drainOf(slot: number, rng: Prng): Op {
  if (slotKind(slot) === 'pipe-read') return { op: 'pipeDrain', p: slot, bytes: 1 + rng.int(4) };
  return { op: 'notifierClear', n: slot - PIPES * 2 };
}

/* ---- printing ---------------------------------------------------------------- */

function body(actions: Actions, indent: string): string {
  if (actions.length === 0) return '() => {}';
  const lines = actions.map((a) => `${indent}  ${format(a, indent + '  ')}`);
  return `() => {\n${lines.join('\n')}\n${indent}}`;
}

/** One op as a JS-like line (callbacks spread over indented lines). */
export function format(op: Op, indent = ''): string {
  switch (op.op) {
    case 'bhNew':
      return `const bh${op.bh} = ctx.bh(${body(op.cb, indent)});`;
    case 'bhSchedule':
      return `bh${op.bh}.schedule();`;
    case 'bhCancel':
      return `bh${op.bh}.cancel();`;
    case 'bhDelete':
      return `bh${op.bh}.delete();`;
    case 'oneshot':
      return `ctx.scheduleOneshot(${body(op.cb, indent)});`;
    case 'timerNew':
      return `const t${op.t} = ctx.timer('virtual', SCALE_NS, ${body(op.cb, indent)});`;
    case 'timerMod':
      return `t${op.t}.mod(virtualClock.now() + ${op.delta});`;
    case 'timerModAnticipate':
      return `t${op.t}.modAnticipate(virtualClock.now() + ${op.delta});`;
    case 'timerDel':
      return `t${op.t}.del();`;
    case 'timerDelete':
      return `t${op.t}.delete();`;
    case 'setFd': {
      const parts: string[] = [];
      if (op.read) parts.push(`read: ${body(op.read, indent)}`);
      if (op.write) parts.push(`write: ${body(op.write, indent)}`);
      if (op.external) parts.push('external: true');
      return `ctx.setFdHandler(${slotName(op.slot)}, { ${parts.join(', ')} });`;
    }
    case 'setNotifier':
      return `ctx.setEventNotifier(n${op.n}, { read: ${body(op.read, indent)}${op.external ? ', external: true' : ''} });`;
    case 'removeFd':
      return op.viaNotifier && slotKind(op.slot) === 'eventfd'
        ? `ctx.setEventNotifier(n${op.slot - PIPES * 2}, null);`
        : `ctx.setFdHandler(${slotName(op.slot)}, null);`;
    case 'pipeWrite':
      return `fs.writeSync(w${op.p}, Buffer.alloc(${op.bytes}));`;
    case 'pipeDrain':
      return `readUpTo(p${op.p}, ${op.bytes});   // EAGAIN = 0 bytes`;
    case 'notifierSet':
      return `n${op.n}.set();`;
    case 'notifierClear':
      return `n${op.n}.testAndClear();`;
    case 'disableExternal':
    case 'enableExternal':
    case 'notify':
    case 'computeTimeout':
      return `ctx.${op.op}();`;
    case 'step':
      return `virtualClock.step(${op.ns});`;
    case 'poll':
      return `ctx.poll(${op.blocking});${op.blocking ? '   // preceded by ctx.notify() when nothing is due' : ''}`;
    case 'iteration':
      return `main.iteration(${op.mayBlock});${op.mayBlock ? '   // preceded by main.wakeup() when nothing is due' : ''}`;
    case 'attach':
      return 'ctx.attach(main);';
    case 'detach':
      return 'ctx.detach();';
    case 'close':
      return 'ctx.close(); ctx = new AioContext({ fdmon });   // live objects left behind';
    case 'throw':
      return "throw new Error('boom');";
  }
}

/** A trace as a small JS-like program. */
export function formatTrace(ops: readonly Op[], fdmon: Fdmon, driver: Driver): string {
  const head = [
    `// fdmon '${fdmon}', driver '${driver}'; virtualClock.stop() first`,
    `let ctx = new AioContext({ fdmon: '${fdmon}' });${driver === 'gsource' ? ' const main = new MainContext();' : ''}`,
    `const [p0, w0] = pipe(), [p1, w1] = pipe(), [p2, w2] = pipe(); const n0 = new EventNotifier(), n1 = new EventNotifier(); const e0 = n0.fd, e1 = n1.fd;`,
  ];
  return [...head, ...ops.map((op) => format(op))].join('\n');
}

/** Number of ops in @ops, callbacks' actions included (the shrinker's size). */
export function size(ops: readonly Op[]): number {
  let n = 0;
  for (const op of ops) {
    n++;
    for (const list of children(op)) n += size(list);
  }
  return n;
}

/** The action lists an op carries. */
export function children(op: Op): Actions[] {
  switch (op.op) {
    case 'bhNew':
    case 'oneshot':
    case 'timerNew':
      return [op.cb];
    case 'setFd':
      return [op.read, op.write].filter((a): a is Actions => a !== undefined);
    case 'setNotifier':
      return [op.read];
    default:
      return [];
  }
}
