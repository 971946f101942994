/*
 * regressions.ts — the four defects of issue #13, and what this fuzzer
 * found, as fixed traces (run through the model like any fuzzed trace) or,
 * where the model has no words for it (busy polling, the process-wide
 * clock), as short direct checks.  Each must stay fixed.
 */
import { readSync, writeSync, closeSync } from 'node:fs';
import { AioContext, EventNotifier, MainContext, pipe, virtualClock } from 'aiocontext';
import type { Fdmon, Op } from './ops';
import { guarded } from './watchdog';

function repeat(n: number, ops: Op[]): Op[] {
  return Array.from({ length: n }, () => ops).flat();
}

/**
 * #13.1: re-attaching lost the fds (the new GSource at the freed one's
 * address).  Driver 'gsource'.
 */
export const reattach: Op[] = [
  { op: 'setFd', slot: 0, read: [{ op: 'pipeDrain', p: 0, bytes: 1 }], external: false },
  { op: 'attach' },
  ...repeat(40, [{ op: 'detach' }, { op: 'attach' }, { op: 'pipeWrite', p: 0, bytes: 1 }, { op: 'iteration', mayBlock: false }]),
];

/**
 * #13.2: io_uring with external handlers paused dispatched a non-external
 * readable fd once, then never.  Driver 'poll'.
 */
export const externalPaused: Op[] = [
  { op: 'setFd', slot: 0, read: [{ op: 'pipeDrain', p: 0, bytes: 1 }], external: false },
  { op: 'poll', blocking: false },
  { op: 'disableExternal' },
  { op: 'pipeWrite', p: 0, bytes: 3 },
  ...repeat(5, [{ op: 'poll', blocking: false }]),
];

/** #13.2 as the fuzzer found it first (seed 165, shrunk). Driver 'poll'. */
export const externalPausedFuzzed: Op[] = [
  { op: 'setFd', slot: 1, read: [], external: false },
  { op: 'poll', blocking: true },
  { op: 'disableExternal' },
  { op: 'pipeWrite', p: 1, bytes: 3 },
  { op: 'poll', blocking: false },
  { op: 'poll', blocking: false },
];

/**
 * Found by this fuzzer (seed 11, epoll and io_uring, shrunk): while the
 * context is attached to a GMainContext, a BH that pauses external handlers
 * makes the same aio_poll() skip a ready non-external handler.  Driver
 * 'gsource' (the trace attaches), checked strictly by hand below, since
 * the model forgives a hand-over under GLib.
 */
export function pausedWhileAttached(fdmon: Fdmon): { ran: boolean; progress: boolean } {
  const ctx = new AioContext({ fdmon });
  const [r, w] = pipe();
  try {
    ctx.attach(new MainContext());
    writeSync(w, Buffer.alloc(3));
    let ran = false;
    ctx.setFdHandler(r, { read: () => (ran = true) });
    ctx.scheduleOneshot(() => ctx.disableExternal());
    const progress = ctx.poll(false);
    return { ran, progress };
  } finally {
    ctx.close();
    closeSync(r);
    closeSync(w);
  }
}

function readAvailable(fd: number): number {
  try {
    return readSync(fd, Buffer.alloc(64), 0, 64, null);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return 0;
    throw err;
  }
}

/**
 * #13.3 (io_uring busy polling): a poll(true) that meant to busy-poll but
 * did not left a polled fd unarmed; it returned false with the byte unread.
 * The sequence; returns the rounds (of @rounds) that lost the byte.
 */
export function busyPollRearm(fdmon: Fdmon, rounds: number): number[] {
  const lost: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const ctx = new AioContext({ fdmon, poll: { maxNs: 50_000 } });
    const [r, w] = pipe();
    const n = new EventNotifier();
    try {
      let bytes = 0;
      ctx.setFdHandler(r, {
        read: () => void (bytes += readAvailable(r)),
        poll: () => {
          const got = readAvailable(r);
          bytes += got;
          return got > 0;
        },
      });
      const hooks = { read: (e: EventNotifier) => void e.testAndClear(), poll: () => false };
      ctx.setEventNotifier(n, hooks);
      while (ctx.poll(false));
      writeSync(w, 'x');
      guarded(ctx, () => ctx.poll(true));
      writeSync(w, 'x');
      guarded(ctx, () => ctx.poll(true));
      ctx.setEventNotifier(n, hooks);
      writeSync(w, 'x');
      guarded(ctx, () => ctx.poll(true));
      if (bytes !== 3) lost.push(round);
      ctx.setFdHandler(r, null);
      ctx.setEventNotifier(n, null);
    } finally {
      ctx.close();
      n.close();
      closeSync(r);
      closeSync(w);
    }
  }
  return lost;
}

/**
 * #13.4: the virtual clock wrapped after 1,023 steps of 2**53 - 1 ns.  A step
 * past INT64_MAX must throw RangeError and change nothing (or saturate).
 * Moves the process-wide clock to its end: run it in a process of its own.
 * Returns what went wrong, or null.
 */
export function clockNeverWraps(): string | null {
  virtualClock.stop();
  let before = virtualClock.now();
  for (let i = 0; i < 1100; i++) {
    let threw: unknown = null;
    try {
      virtualClock.step(2 ** 53 - 1);
    } catch (err) {
      threw = err;
    }
    const now = virtualClock.now();
    if (now < 0) return `step ${i + 1}: now() is negative (${now})`;
    if (now < before) return `step ${i + 1}: now() went back from ${before} to ${now}`;
    if (threw !== null) {
      if (!(threw instanceof RangeError)) return `step ${i + 1} threw ${String(threw)}, not a RangeError`;
      if (now !== before) return `step ${i + 1} threw but moved the clock from ${before} to ${now}`;
    }
    before = now;
  }
  if (before < 2 ** 62) return `the clock stopped early at ${before}`;
  return null;
}
