/*
 * model.ts — a small reference model of one AioContext, as this project
 * documents it (README "Order", "Progress", "Deleting from callbacks",
 * "Exceptions", "Lifetimes", "Virtual clock"; API.md "Semantics that the
 * names alone do not say"; SEMANTICS.md for QEMU's details).
 *
 * The model runs in lockstep with the real context: the executor (run.ts)
 * applies every op to both, and each time the real loop calls a callback it
 * asks the model whether that callback may run now (expect()).  A poll() or
 * iteration() is a Frame on a stack (nested polls push more):
 *
 *   bh      BH slices, FIFO of slices, newest-scheduled first within one;
 *           a BH scheduled during a pass goes to the next slice; a nested
 *           frame first finishes the slices around it (SEMANTICS.md §2).
 *   fd      the handlers ready when the frame waited; their order within one
 *           dispatch is not specified (README), so any order is accepted,
 *           but a handler's read runs before its write and write is skipped
 *           once read removed the handler; a nested frame takes the handlers
 *           it finds ready from the frames around it (level-triggered).
 *   timers  virtual-clock timers due at the time read when the phase
 *           starts, earliest first, equal expiries first-armed first.
 *
 * Under GLib (driver 'gsource') the back ends differ in when they read
 * readiness (at GLib's poll, before the BHs ran, or at dispatch, after):
 * a handler whose readiness changed in between may run or not ('maybe').
 */
import { PIPE_CAP, PIPES, slotKind, slotName, type Actions, type Op } from './ops';

/**
 * Under GLib every back end dispatches what was ready when GLib polled
 * (README "Under GLib", issue #13).  false: the rule before that fix, where
 * epoll and io_uring read readiness at dispatch, after the BHs (lenient).
 */
export const GLIB_READY_AT_POLL = true;

export class Divergence extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Divergence';
  }
}

export interface MBh {
  key: string;            // 'bh3' or 'oneshot#7': what the callback reports
  id: number;             // the op's id (-1 for a oneshot)
  epoch: number;          // the context it belongs to (close() makes a new one)
  oneshot: boolean;
  cb: Actions;
  pending: boolean;       // linked in bhList or a slice
  scheduled: boolean;
  deleted: boolean;
}

export interface MTimer {
  id: number;
  epoch: number;
  cb: Actions;
  expire: number;         // model ns (relative to the run's start), -1 = not pending
  deleted: boolean;
}

export interface MNode {
  serial: number;         // one per setFdHandler/setEventNotifier call (QEMU: a new node)
  slot: number;
  notifier: boolean;
  read?: Actions;
  write?: Actions;
  external: boolean;
  valid: boolean;         // false once replaced or removed
  /** io_uring: the fd was readable since the handler's read last ran (a POLL_ADD may have completed). */
  sawReadable: boolean;
  /** Model.seq when the fd last became readable. */
  touchSeq: number;
}

type Stage = 'yes' | 'maybe' | 'no';
interface Ready {
  read: Stage;
  write: Stage;
}

export type Event =
  | { kind: 'bh'; key: string }
  | { kind: 'timer'; id: number }
  | { kind: 'read' | 'write'; serial: number; slot: number };

export function describe(ev: Event | null): string {
  if (ev === null) return 'the end of the call';
  if (ev.kind === 'bh') return `BH ${ev.key}`;
  if (ev.kind === 'timer') return `timer t${ev.id}`;
  return `${ev.kind} of ${slotName(ev.slot)} (handler #${ev.serial})`;
}

export interface Frame {
  driver: 'poll' | 'gsource';
  depth: number;
  phase: 'bh' | 'fd' | 'timers' | 'done';
  /** gsource: handlers ready at GLib's poll; poll: at the wait. */
  ready: Map<MNode, Ready>;
  /** gsource only: whether GLib must dispatch us ('maybe': only a wake-up). */
  dispatch: 'yes' | 'maybe';
  /** fd: the handler whose read just ran; its write follows at once (same revents). */
  current: { node: MNode; write: Stage } | null;
  /** gsource: nodes that replaced a node of `ready` during the BH phase (maybe dispatched with its revents). */
  inherited: Map<MNode, Ready>;
  /** gsource: external handlers paused or resumed before the fd phase (the back end changed under GLib). */
  externalToggled: boolean;
  /** gsource, dispatch 'maybe': the BH pass of GLib's dispatch was modelled. */
  wakeupPassDone: boolean;
  /** Model.seq at the frame's wait. */
  waitSeq: number;
  timerNow: number;
  ran: number;
  errors: string[];
}

export class Model {
  epoch = 0;
  bhs = new Map<number, MBh>();
  oneshots = 0;
  bhList: MBh[] = [];          // head first: newest enqueued first
  slices: MBh[][] = [];        // FIFO of the active passes' slices
  timers = new Map<number, MTimer>();
  armed: MTimer[] = [];        // sorted by expiry, equal ones in arming order
  nodes = new Map<number, MNode>();  // slot -> live node
  nodeSerial = 0;
  pipeBytes: number[] = new Array(PIPES).fill(0);
  notifierSet: boolean[] = [];
  external = 0;
  now = 0;
  attached = false;
  /** Bit 0 of notify_me: set by a GLib prepare, cleared by the next check. */
  bit0 = false;
  frames: Frame[] = [];
  /** Orders fds becoming readable and waits (io_uring completions). */
  seq = 0;

  /**
   * @oneShotPoll: the back end is io_uring, whose one-shot POLL_ADD reports
   * that an fd was readable when it completed: a read drained since may
   * still be dispatched once (QEMU's io_uring does the same; a handler must
   * expect EAGAIN).  poll and epoll report readiness at the wait.
   * @backendHandsOver: epoll or io_uring, which let ppoll stand in under
   * GLib while external handlers are paused.
   */
  constructor(notifiers: number, public oneShotPoll: boolean, public backendHandsOver: boolean) {
    this.notifierSet = new Array(notifiers).fill(false);
  }

  /** The fd of @slot may have become readable: note it on its handler. */
  #touch(slot: number): void {
    const node = this.nodes.get(slot);
    if (node !== undefined && this.#readable(slot)) {
      node.sawReadable = true;
      node.touchSeq = ++this.seq;
    }
  }

  /* ---- bottom halves ------------------------------------------------------ */

  #enqueue(b: MBh): void {
    if (!b.pending) {
      b.pending = true;
      this.bhList.unshift(b);
    }
  }

  bhNew(id: number, cb: Actions): MBh {
    const b: MBh = { key: `bh${id}`, id, epoch: this.epoch, oneshot: false, cb, pending: false, scheduled: false, deleted: false };
    this.bhs.set(id, b);
    return b;
  }

  bhSchedule(b: MBh): void {
    b.scheduled = true;
    this.#enqueue(b);
  }

  bhCancel(b: MBh): void {
    b.scheduled = false;
  }

  bhDelete(b: MBh): void {
    if (b.deleted) return;
    b.deleted = true;
    this.#enqueue(b);
  }

  oneshot(cb: Actions): MBh {
    const b: MBh = { key: `oneshot#${this.oneshots++}`, id: -1, epoch: this.epoch, oneshot: true, cb, pending: false, scheduled: true, deleted: false };
    this.#enqueue(b);
    return b;
  }

  /** A BH that would run: scheduled and not deleted, not yet taken by a pass. */
  #bhDue(): boolean {
    return this.bhList.some((b) => b.scheduled && !b.deleted) || this.slices.some((s) => s.some((b) => b.scheduled && !b.deleted));
  }

  /** The next BH the current pass calls, or null when the slices are done. */
  #nextBh(): MBh | null {
    while (this.slices.length > 0) {
      const slice = this.slices[0];
      const b = slice.shift();
      if (b === undefined) {
        this.slices.shift();
        continue;
      }
      const call = b.scheduled && !b.deleted;
      b.pending = false;
      b.scheduled = false;
      if (call) return b;
    }
    return null;
  }

  /* ---- timers --------------------------------------------------------------- */

  timerNew(id: number, cb: Actions): MTimer {
    const t: MTimer = { id, epoch: this.epoch, cb, expire: -1, deleted: false };
    this.timers.set(id, t);
    return t;
  }

  #unlink(t: MTimer): void {
    const i = this.armed.indexOf(t);
    if (i >= 0) this.armed.splice(i, 1);
    t.expire = -1;
  }

  timerMod(t: MTimer, delta: number): void {
    this.#unlink(t);
    t.expire = Math.max(0, this.now + delta);
    let i = 0;
    while (i < this.armed.length && this.armed[i].expire <= t.expire) i++;
    this.armed.splice(i, 0, t);
  }

  timerModAnticipate(t: MTimer, delta: number): void {
    const expire = Math.max(0, this.now + delta);
    if (t.expire === -1 || t.expire > expire) this.timerMod(t, delta);
  }

  timerDel(t: MTimer): void {
    this.#unlink(t);
  }

  timerDelete(t: MTimer): void {
    this.#unlink(t);
    t.deleted = true;
  }

  #timerDue(): boolean {
    return this.armed.length > 0 && this.armed[0].expire <= this.now;
  }

  /** aio_compute_timeout: 0 if work is due, else -1 (a stopped virtual clock never makes timers due). */
  computeTimeout(): number {
    return this.#bhDue() || this.#timerDue() ? 0 : -1;
  }

  /* ---- fd handlers ------------------------------------------------------------ */

  setHandler(slot: number, notifier: boolean, read: Actions | undefined, write: Actions | undefined, external: boolean): MNode | null {
    const old = this.nodes.get(slot);
    if (old) old.valid = false;
    if (read === undefined && write === undefined) {
      this.nodes.delete(slot);
      return null;
    }
    const node: MNode = { serial: this.nodeSerial++, slot, notifier, read, write, external, valid: true, sawReadable: false, touchSeq: 0 };
    this.nodes.set(slot, node);
    for (const f of this.frames) {
      const r = old && f.driver === 'gsource' && f.phase === 'bh' ? f.ready.get(old) ?? f.inherited.get(old) : undefined;
      if (r === undefined) continue;
      const maybe = (x: Stage, has: boolean): Stage => (x !== 'no' && has ? 'maybe' : 'no');
      f.inherited.set(node, { read: maybe(r.read, read !== undefined), write: maybe(r.write, write !== undefined) });
    }
    this.#touch(slot);
    return node;
  }

  #readable(slot: number): boolean {
    const kind = slotKind(slot);
    if (kind === 'pipe-read') return this.pipeBytes[slot] > 0;
    if (kind === 'eventfd') return this.notifierSet[slot - PIPES * 2];
    return false;
  }

  #writable(slot: number): boolean {
    return slotKind(slot) !== 'pipe-read';
  }

  #eligible(node: MNode): boolean {
    return node.valid && !(node.external && this.external > 0);
  }

  /** The handlers a wait finds ready now, and which of their callbacks. */
  readySet(): Map<MNode, Ready> {
    const out = new Map<MNode, Ready>();
    for (const node of this.nodes.values()) {
      if (!this.#eligible(node)) continue;
      const read: Stage = node.read === undefined ? 'no' : this.#readable(node.slot) ? 'yes' : this.oneShotPoll && node.sawReadable ? 'maybe' : 'no';
      const write = node.write !== undefined && this.#writable(node.slot);
      if (read !== 'no' || write) out.set(node, { read, write: write ? 'yes' : 'no' });
    }
    return out;
  }

  pipeWrite(p: number, bytes: number): boolean {
    if (this.pipeBytes[p] + bytes > PIPE_CAP) return false;
    this.pipeBytes[p] += bytes;
    this.#touch(p);
    return true;
  }

  pipeDrain(p: number, bytes: number): number {
    const got = Math.min(bytes, this.pipeBytes[p]);
    this.pipeBytes[p] -= got;
    return got;
  }

  /* ---- frames: poll() and iteration() --------------------------------------- */

  notifierSetOn(n: number): void {
    this.notifierSet[n] = true;
    this.#touch(PIPES * 2 + n);
  }

  /** Whether a handler is sure to run. */
  #anySure(ready: Map<MNode, Ready>): boolean {
    for (const r of ready.values()) if (r.read === 'yes' || r.write === 'yes') return true;
    return false;
  }

  /** Whether a call would run a callback now (a blocking one then returns at once). */
  workDue(): boolean {
    return this.#bhDue() || this.#timerDue() || this.#anySure(this.readySet());
  }

  /**
   * disableExternal()/enableExternal() changed whether external handlers
   * are paused.  A paused handler is checked when it is dispatched, and the
   * order within a dispatch is not specified: an external handler due in a
   * running frame may run or not.  Under GLib, epoll and io_uring hand over
   * to ppoll (and back) at that moment, which may drop what the back end
   * had collected for this dispatch: every handler may run or not (they are
   * level-triggered: the next iteration runs them; see the report of #13's
   * fuzzer for the same in aio_poll while attached).
   */
  externalChanged(): void {
    const handover = this.attached && this.backendHandsOver;
    for (const f of this.frames) {
      const all = handover || f.driver === 'gsource';
      if (f.driver === 'gsource' && f.phase === 'bh') f.externalToggled = true;
      const entries = [...f.ready.entries()];
      if (f.current !== null) entries.push([f.current.node, { read: 'no', write: f.current.write }]);
      for (const [node, r] of entries) {
        if (!all && !node.external) continue;
        if (r.read === 'yes') r.read = 'maybe';
        if (r.write === 'yes') r.write = 'maybe';
      }
      if (f.current !== null && (all || f.current.node.external) && f.current.write === 'yes') f.current.write = 'maybe';
    }
  }

  get top(): Frame | undefined {
    return this.frames[this.frames.length - 1];
  }

  /**
   * A nested wait takes what it finds ready from the frames around it
   * (poll, epoll: level-triggered, so it sees them too).  On io_uring the
   * nested wait sees a handler of an outer frame's ready list only if its
   * one-shot POLL_ADD was armed again and completed meanwhile: 'maybe', and
   * the outer frame loses it only if the nested one runs it.
   */
  #steal(ready: Map<MNode, Ready>): void {
    const outer = (node: MNode) => this.frames.some((f) => f.ready.has(node) || f.current?.node === node);
    for (const [node, r] of ready) {
      if (!outer(node)) continue;
      if (this.oneShotPoll) {
        if (r.read === 'yes') r.read = 'maybe';
        if (r.write === 'yes') r.write = 'maybe';
      } else {
        for (const f of this.frames) f.ready.delete(node);
      }
    }
  }

  /** @node's callback runs in the top frame: no frame around it runs it again. */
  #taken(node: MNode): void {
    for (const f of this.frames) if (f !== this.top) f.ready.delete(node);
  }

  #frame(driver: Frame['driver'], ready: Map<MNode, Ready>, dispatch: Frame['dispatch']): Frame {
    return {
      driver, depth: this.frames.length, phase: 'bh', ready, dispatch, current: null, inherited: new Map(),
      externalToggled: false, wakeupPassDone: false, waitSeq: ++this.seq, timerNow: 0, ran: 0, errors: [],
    };
  }

  /** aio_poll() starts: it waits (readiness now), then takes the BH list. */
  beginPoll(): Frame {
    const ready = this.readySet();
    this.#steal(ready);
    const f = this.#frame('poll', ready, 'yes');
    this.slices.push(this.bhList);
    this.bhList = [];
    this.frames.push(f);
    return f;
  }

  /**
   * An iteration of the GMainContext we are attached to: prepare (bit 0
   * set; true when a BH or timer is due, and then GLib skips check), GLib's
   * poll, check (bit 0 cleared), dispatch.  Returns null when detached.
   * Bit 0 is clear after every iteration: check clears it, and when GLib
   * skips check the dispatch clears it as it starts (README: the one
   * deviation from QEMU, which leaves it set until the next check).
   */
  beginIteration(): Frame | null {
    if (!this.attached) return null;
    const prepared = this.#bhDue() || this.#timerDue();
    this.bit0 = false;
    const ready = this.readySet();
    const f = this.#frame('gsource', ready, prepared || this.#anySure(ready) ? 'yes' : 'maybe');
    if (f.dispatch === 'yes') {
      this.slices.push(this.bhList);
      this.bhList = [];
    }
    this.frames.push(f);
    return f;
  }

  /**
   * gsource: the fd phase starts.  README "Under GLib": one dispatch runs
   * the handlers that were ready when GLib polled, on every fd monitor (the
   * ready list is collected before the BHs run); one made ready during the
   * dispatch waits for the next iteration.  (Without GLIB_READY_AT_POLL, an
   * older rule: readiness read after the BHs may count too.)  A handler
   * replaced by a BH keeps its old node's revents: it may run.
   */
  #startFd(f: Frame): void {
    if (f.driver !== 'gsource') return;
    const now = this.readySet();
    const merged = new Map<MNode, Ready>();
    const stage = (a: Stage | undefined, b: Stage | undefined): Stage => {
      const x = a ?? 'no';
      const y = b ?? 'no';
      if (GLIB_READY_AT_POLL) return x === 'yes' && f.externalToggled ? 'maybe' : x;
      if (x === 'yes' && y === 'yes') return f.externalToggled ? 'maybe' : 'yes';
      return x === 'no' && y === 'no' ? 'no' : 'maybe';
    };
    for (const node of new Set([...f.ready.keys(), ...now.keys()])) {
      if (!node.valid) continue;
      const a = f.ready.get(node) ?? f.inherited.get(node);
      const b = now.get(node);
      const r: Ready = { read: stage(a?.read, b?.read), write: stage(a?.write, b?.write) };
      if (r.read !== 'no' || r.write !== 'no') merged.set(node, r);
    }
    f.ready = merged;
  }

  /** Handlers whose callbacks were due and never ran: a divergence. */
  #endFd(f: Frame): void {
    for (const [node, r] of f.ready) {
      if (!this.#eligible(node)) continue;
      if (r.read === 'yes' || (r.write === 'yes' && node.valid)) {
        throw new Divergence(`${r.read === 'yes' ? 'read' : 'write'} of ${slotName(node.slot)} (handler #${node.serial}) was ready but did not run`);
      }
    }
  }

  /**
   * The real loop is about to call @ev's callback (null: the call returns).
   * Walks the top frame's phases up to it; throws Divergence when @ev may
   * not run now.  Returns the object whose callback runs.
   */
  expect(ev: Event | null): MBh | MTimer | MNode | null {
    const f = this.top;
    if (f === undefined) throw new Divergence(`${describe(ev)} ran outside any poll()/iteration()`);
    for (;;) {
      if (f.phase === 'bh') {
        if (f.driver === 'gsource' && f.dispatch === 'maybe') {
          // A callback runs, so GLib did dispatch us (a handler that may
          // run, below): the BH pass ran first, and called nothing.
          if (ev !== null) this.#wakeupPass(f);
          f.phase = 'fd';
          continue;
        }
        const b = this.#nextBh();
        if (b !== null) {
          if (ev?.kind === 'bh' && ev.key === b.key) {
            f.ran++;
            return b;
          }
          throw new Divergence(`expected BH ${b.key} to run, got ${describe(ev)}`);
        }
        f.phase = 'fd';
        this.#startFd(f);
        continue;
      }
      if (f.phase === 'fd') {
        const cur = f.current;
        if (cur !== null) {
          f.current = null;
          if (ev?.kind === 'write' && ev.serial === cur.node.serial) {
            if (cur.write === 'no') throw new Divergence(`${describe(ev)} ran but its fd was not writable`);
            if (!this.#eligible(cur.node)) throw new Divergence(`${describe(ev)} ran after its read removed the handler`);
            f.ran++;
            return cur.node;
          }
          if (cur.write === 'yes' && this.#eligible(cur.node)) {
            throw new Divergence(`write of ${slotName(cur.node.slot)} (handler #${cur.node.serial}) did not run right after its read; got ${describe(ev)}`);
          }
        }
        if (ev !== null && (ev.kind === 'read' || ev.kind === 'write')) {
          const hit = [...f.ready.keys()].find((n) => n.serial === ev.serial);
          const r = hit && f.ready.get(hit);
          if (!hit || !r || !this.#eligible(hit)) throw new Divergence(`${describe(ev)} ran but was not ready in this call (or was removed)`);
          f.ready.delete(hit);
          this.#taken(hit);
          if (ev.kind === 'read') {
            if (r.read === 'no') throw new Divergence(`${describe(ev)} ran but its fd was not readable`);
            f.current = { node: hit, write: r.write };
            // Its completion was taken by this frame's wait: unless the fd
            // became readable again after that wait (a new completion).
            if (f.waitSeq > hit.touchSeq) hit.sawReadable = false;
          } else {
            if (r.write === 'no') throw new Divergence(`${describe(ev)} ran but its fd was not writable`);
            if (r.read === 'yes') throw new Divergence(`${describe(ev)} ran before the handler's read`);
          }
          f.ran++;
          return hit;
        }
        this.#endFd(f);
        f.phase = 'timers';
        f.timerNow = this.now;
        continue;
      }
      if (f.phase === 'timers') {
        const head = this.armed[0];
        if (head !== undefined && head.expire <= f.timerNow && !(f.driver === 'gsource' && f.dispatch === 'maybe')) {
          if (ev?.kind === 'timer' && ev.id === head.id) {
            this.#unlink(head);
            f.ran++;
            return head;
          }
          throw new Divergence(`expected timer t${head.id} (due at ${head.expire}, now ${f.timerNow}) to run, got ${describe(ev)}`);
        }
        f.phase = 'done';
        continue;
      }
      if (ev === null) return null;
      throw new Divergence(`${describe(ev)} ran after the call's timers (nothing else was due)`);
    }
  }

  /** GLib dispatched a frame that had nothing sure to run: its BH pass calls nothing. */
  #wakeupPass(f: Frame): void {
    if (f.wakeupPassDone) return;
    f.wakeupPassDone = true;
    this.slices.push(this.bhList);
    this.bhList = [];
    if (this.#nextBh() !== null) throw new Divergence('model bug: a BH was due in a wake-up dispatch');
  }

  /** The real call returned: checks that nothing due was left, pops the frame. */
  endFrame(f: Frame, dispatched: boolean): void {
    if (this.top !== f) throw new Divergence('frames out of order (model bug)');
    if (f.driver === 'gsource' && f.dispatch === 'maybe' && dispatched) this.#wakeupPass(f);
    this.expect(null);
    this.frames.pop();
  }

  /* ---- context-wide ---------------------------------------------------------------- */

  /** close(): every BH, timer and handler of this context is gone. */
  close(): void {
    for (const b of this.bhs.values()) if (b.epoch === this.epoch) b.deleted = true;
    for (const t of this.timers.values()) {
      if (t.epoch === this.epoch) {
        t.expire = -1;
        t.deleted = true;
      }
    }
    for (const node of this.nodes.values()) node.valid = false;
    this.nodes.clear();
    this.bhList = [];
    this.armed = [];
    this.slices = [];
    this.external = 0;
    this.attached = false;
    this.bit0 = false;
    this.epoch++;
  }

  /** BHs of the current context never deleted (named by close()'s warning). */
  leakedBhs(): number {
    let n = 0;
    for (const b of this.bhs.values()) if (b.epoch === this.epoch && !b.deleted) n++;
    return n;
  }
}

export type { Op };
