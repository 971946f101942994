/*
 * What is specific to the fd monitors (SEMANTICS.md §4 "fdmon selection"):
 * 'auto' is io_uring as in QEMU, unless AIOCONTEXT_IO_URING=0 turns it off
 * or io_uring cannot be set up; then it starts on ppoll and moves to epoll
 * for good once a wait has 64 fds.  'poll' never moves, a monitor that
 * cannot be used falls back with a reason,
 * external handlers pause on every monitor, and every monitor works whether
 * the context is driven by poll() or by MainContext.iteration() (where GLib
 * polls either each fd or the monitor's own epoll/ring fd).
 *
 * The fd-handler suite itself runs once per monitor in fdmon-*.test.ts.
 *
 * This file's 'auto' cases are about auto without io_uring (io_uring has
 * its own): AIOCONTEXT_IO_URING=0 is set for the whole file, since it is
 * read when a context is created; the test of the variable itself changes
 * it and puts it back.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, EventNotifier, MainContext, pipe } from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import { closeFds, drain, drainMain, iterateUntil, openAttached, openContext, pollUntil, readAvailable, writeBytes } from './helpers/loop.js';

const MONITORS: readonly FdMonitor[] = ['auto', 'poll', 'epoll', 'io_uring'];
const URING_OFF = 'io_uring turned off by AIOCONTEXT_IO_URING=0';
process.env.AIOCONTEXT_IO_URING = '0';

function openPipes(t: ExecutionContext, n: number): Array<[number, number]> {
  const pipes = Array.from({ length: n }, () => pipe());
  t.teardown(() => closeFds(...pipes.flat()));
  return pipes;
}

/** Registers a read handler on each pipe that drains it and counts per pipe. */
function watchAll(ctx: AioContext, pipes: Array<[number, number]>, counts: number[]): void {
  pipes.forEach(([r], i) => {
    counts[i] = 0;
    ctx.setFdHandler(r, {
      read: () => {
        counts[i]++;
        readAvailable(r);
      },
    });
  });
}

function unwatchAll(ctx: AioContext, pipes: Array<[number, number]>): void {
  for (const [r] of pipes) ctx.setFdHandler(r, null);
}

/* ------------------------------------------------------------ selection */

test.serial('fdmon: auto is io_uring unless AIOCONTEXT_IO_URING=0 turns it off or GLib drives the context', (t) => {
  t.teardown(() => {
    process.env.AIOCONTEXT_IO_URING = '0';
  });
  for (const value of [undefined, '1', '']) {
    if (value === undefined) delete process.env.AIOCONTEXT_IO_URING;
    else process.env.AIOCONTEXT_IO_URING = value;
    const ctx = openContext(t);
    t.is(ctx.stats.fdmon, 'io_uring', `AIOCONTEXT_IO_URING=${value}`);
    t.is(ctx.stats.fdmonFallbackReason, null);
    ctx.close();
  }
  // Once GLib drives it (attach(), or Node's loop, which runs a
  // GMainContext), auto gives io_uring up for ppoll, as QEMU did before
  // 10.2: fewer syscalls per GLib wake-up.  Handlers stay; it is for good.
  delete process.env.AIOCONTEXT_IO_URING;
  const glib = openContext(t);
  const [r, w] = openPipes(t, 1)[0];
  let reads = 0;
  glib.setFdHandler(r, {
    read: () => {
      reads++;
      readAvailable(r);
    },
  });
  t.false(glib.poll(false));
  t.is(glib.stats.fdmon, 'io_uring');
  const mc = new MainContext();
  glib.attach(mc);
  t.is(glib.stats.fdmon, 'poll');
  t.is(glib.stats.fdmonFallbackReason, null);
  writeBytes(w);
  iterateUntil(mc, glib, () => reads === 1);
  glib.detach();
  writeBytes(w);
  pollUntil(glib, () => reads === 2);
  t.is(glib.stats.fdmon, 'poll');
  glib.setFdHandler(r, null);
  const loop = openContext(t);
  t.is(loop.stats.fdmon, 'io_uring');
  loop.attachToNodeLoop();
  t.is(loop.stats.fdmon, 'poll');
  loop.detach();
  const explicit = openContext(t, { fdmon: 'io_uring' });
  explicit.attach(new MainContext());
  t.is(explicit.stats.fdmon, 'io_uring', 'only auto switches');
  explicit.detach();

  process.env.AIOCONTEXT_IO_URING = '0';
  const off = openContext(t);
  t.is(off.stats.fdmon, 'poll');
  t.is(off.stats.fdmonFallbackReason, URING_OFF);
  // Only 'auto' listens to it.
  const asked = openContext(t, { fdmon: 'io_uring' });
  t.is(asked.stats.fdmon, 'io_uring');
  t.is(asked.stats.fdmonFallbackReason, null);
});

test('fdmon: auto starts on poll and moves to epoll once a wait has 64 fds', (t) => {
  const ctx = openContext(t);
  const pipes = openPipes(t, 70);
  const counts: number[] = [];
  t.is(ctx.stats.fdmon, 'poll');

  // 62 user fds plus the context's own notifier: 63 fds, still ppoll.
  watchAll(ctx, pipes.slice(0, 62), counts);
  t.false(ctx.poll(false));
  t.is(ctx.stats.fdmon, 'poll');
  // One more makes a wait of 64 fds: epoll from then on.
  watchAll(ctx, pipes.slice(62, 63), counts.slice(62));
  t.false(ctx.poll(false));
  t.is(ctx.stats.fdmon, 'epoll');
  t.is(ctx.stats.fdmonFallbackReason, URING_OFF, 'moving up is not a fallback');

  // Every handler made the move: write to a few, each runs once.
  const all: number[] = [];
  watchAll(ctx, pipes, all);
  for (const i of [0, 31, 62, 69]) writeBytes(pipes[i][1]);
  t.true(ctx.poll(false));
  t.deepEqual(
    all.flatMap((c, i) => (c > 0 ? [[i, c]] : [])),
    [
      [0, 1],
      [31, 1],
      [62, 1],
      [69, 1],
    ],
  );
  t.false(ctx.poll(false));

  // For good: removing every handler does not go back to ppoll.
  unwatchAll(ctx, pipes);
  t.false(ctx.poll(false));
  t.is(ctx.stats.fdmon, 'epoll');
});

test("fdmon: 'poll' never moves to epoll", (t) => {
  const ctx = openContext(t, { fdmon: 'poll' });
  const pipes = openPipes(t, 200);
  const counts: number[] = [];
  watchAll(ctx, pipes, counts);
  for (let i = 0; i < 3; i++) t.false(ctx.poll(false));
  t.is(ctx.stats.fdmon, 'poll');
  writeBytes(pipes[199][1]);
  writeBytes(pipes[0][1]);
  t.true(ctx.poll(false));
  t.is(counts[0], 1);
  t.is(counts[199], 1);
  t.is(
    counts.reduce((a, b) => a + b, 0),
    2,
  );
  t.is(ctx.stats.fdmon, 'poll');
  unwatchAll(ctx, pipes);
});

test("fdmon: 'epoll' and 'io_uring' are in use from the start, even with few fds", (t) => {
  for (const fdmon of ['epoll', 'io_uring'] as const) {
    const ctx = openContext(t, { fdmon });
    t.is(ctx.stats.fdmon, fdmon);
    t.is(ctx.stats.fdmonFallbackReason, null);
    const pipes = openPipes(t, 2);
    const counts: number[] = [];
    watchAll(ctx, pipes, counts);
    writeBytes(pipes[1][1]);
    t.true(ctx.poll(false));
    t.deepEqual(counts, [0, 1]);
    t.is(ctx.stats.fdmon, fdmon, `${fdmon} with 3 fds`);
    unwatchAll(ctx, pipes);
  }
});

/* ------------------------------------------------------------ fallbacks */

test('fdmon: stats.fdmonFallbackReason is null unless the monitor asked for is not in use', (t) => {
  for (const fdmon of MONITORS) {
    const ctx = openContext(t, { fdmon });
    const stats = ctx.stats;
    t.true('fdmonFallbackReason' in stats);
    t.is(stats.fdmonFallbackReason, fdmon === 'auto' ? URING_OFF : null, fdmon);
    t.true(['poll', 'epoll', 'io_uring'].includes(stats.fdmon));
  }
});

test("fdmon: 'epoll' falls back to poll for good when epoll refuses an fd, and says why", (t) => {
  // epoll cannot watch regular files (EPERM); ppoll can (always ready).
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aio-fdmon-')), 'plain');
  fs.writeFileSync(file, 'x');
  const fd = fs.openSync(file, 'r');
  t.teardown(() => {
    closeFds(fd);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
  const ctx = openContext(t, { fdmon: 'epoll' });
  const [r, w] = openPipes(t, 1)[0];
  let pipeReads = 0;
  ctx.setFdHandler(r, {
    read: () => {
      pipeReads++;
      readAvailable(r);
    },
  });
  t.is(ctx.stats.fdmon, 'epoll');

  let fileReads = 0;
  ctx.setFdHandler(fd, {
    read: () => {
      fileReads++;
    },
  });
  const { fdmon, fdmonFallbackReason } = ctx.stats;
  t.is(fdmon, 'poll');
  t.is(typeof fdmonFallbackReason, 'string');
  t.regex(fdmonFallbackReason ?? '', /^epoll_ctl: .+; using poll for good$/);

  // Both handlers work on ppoll.
  writeBytes(w);
  t.true(ctx.poll(false));
  t.is(pipeReads, 1);
  t.is(fileReads, 1);
  ctx.setFdHandler(fd, null);
  t.false(ctx.poll(false));
  t.is(ctx.stats.fdmon, 'poll', 'for good');
  ctx.setFdHandler(r, null);
});

test.serial("fdmon: 'io_uring' that cannot be set up falls back to ppoll (then epoll), and says why", (t) => {
  // Leave exactly two descriptors free: the context's epoll fd and its
  // eventfd fit, the ring does not (EMFILE).
  const hog: number[] = [];
  let ctx: AioContext | undefined;
  try {
    for (;;) {
      try {
        hog.push(fs.openSync('/dev/null', 'r'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EMFILE') break;
        throw err;
      }
    }
    closeFds(...hog.splice(-2));
    ctx = new AioContext({ fdmon: 'io_uring' });
  } finally {
    closeFds(...hog);
  }
  t.teardown(() => ctx?.close());
  const { fdmon, fdmonFallbackReason } = ctx.stats;
  t.is(fdmon, 'poll', 'ppoll first');
  t.regex(fdmonFallbackReason ?? '', /^io_uring_queue_init: .+/);
  t.log(`fallback reason: ${fdmonFallbackReason}`);

  // It works like auto without io_uring: it runs handlers and moves to epoll.
  const pipes = openPipes(t, 64);
  const counts: number[] = [];
  watchAll(ctx, pipes, counts);
  writeBytes(pipes[5][1]);
  t.true(ctx.poll(false));
  t.is(counts[5], 1);
  t.is(ctx.stats.fdmon, 'epoll');
  t.is(ctx.stats.fdmonFallbackReason, fdmonFallbackReason, 'the reason stays');
  unwatchAll(ctx, pipes);
});

/* ------------------------------------------------------------- external */

for (const fdmon of MONITORS) {
  test(`fdmon: [${fdmon}] external handlers pause under poll() and under iteration()`, (t) => {
    const { ctx, mc } = openAttached(t, { fdmon });
    const pipes = openPipes(t, fdmon === 'auto' ? 70 : 2); // 'auto': past its move to epoll
    const counts: number[] = [];
    const [re, we] = pipes[0];
    const [ri, wi] = pipes[1];
    watchAll(ctx, pipes.slice(2), counts);
    let ext = 0;
    let internal = 0;
    ctx.setFdHandler(re, {
      read: () => {
        ext++;
        readAvailable(re);
      },
      external: true,
    });
    ctx.setFdHandler(ri, {
      read: () => {
        internal++;
        readAvailable(ri);
      },
    });
    drain(ctx);
    const expected = fdmon === 'auto' ? 'epoll' : fdmon;

    // Driven by poll().
    ctx.disableExternal();
    writeBytes(we);
    writeBytes(wi);
    t.true(ctx.poll(false));
    t.is(internal, 1);
    t.is(ext, 0);
    t.false(ctx.poll(false));
    t.is(ext, 0, 'still paused');
    ctx.enableExternal();
    t.true(ctx.poll(false));
    t.is(ext, 1);
    t.is(ctx.stats.fdmon, expected);

    // Driven by the GMainContext.
    ctx.disableExternal();
    writeBytes(we);
    writeBytes(wi);
    iterateUntil(mc, ctx, () => internal === 2);
    drainMain(mc);
    t.is(ext, 1, 'paused under GLib too');
    ctx.enableExternal();
    iterateUntil(mc, ctx, () => ext === 2);
    t.is(internal, 2);
    t.is(ctx.stats.fdmon, expected);

    unwatchAll(ctx, pipes);
  });
}

// While external handlers are paused, io_uring hands its waits to ppoll; the
// POLL_ADD completions that arrive meanwhile are stale by the time io_uring
// takes over again and must not call a handler whose fd ppoll already
// served (the core parks them and re-arms).
for (const fdmon of MONITORS) {
  for (const drive of ['poll', 'iteration'] as const) {
    test(`fdmon: [${fdmon}] no spurious read callback after an external pause (${drive})`, (t) => {
      const { ctx, mc } = openAttached(t, { fdmon });
      const [r, w] = openPipes(t, 1)[0];
      const reads: number[] = [];
      ctx.setFdHandler(r, {
        read: () => {
          reads.push(readAvailable(r));
        },
      });
      const step = drive === 'poll' ? () => ctx.poll(false) : () => mc.iteration(false);
      drain(ctx);
      drainMain(mc);
      ctx.disableExternal();
      writeBytes(w);
      for (let i = 0; i < 3; i++) step();
      t.deepEqual(reads, [1], 'the non-external handler ran once while external ones were paused');
      ctx.enableExternal();
      for (let i = 0; i < 3; i++) step();
      t.deepEqual(reads, [1], 'and not again, with nothing to read, after enableExternal()');
      ctx.setFdHandler(r, null);
    });
  }
}

/* --------------------------------------------------- poll() and GLib */

for (const fdmon of MONITORS) {
  test(`fdmon: [${fdmon}] fd handlers run under MainContext.iteration() and poll() in turn`, (t) => {
    const { ctx, mc } = openAttached(t, { fdmon });
    const [r, w] = openPipes(t, 1)[0];
    const n = new EventNotifier();
    t.teardown(() => {
      if (!ctx.closed) ctx.setEventNotifier(n, null);
      n.close();
    });
    const calls: string[] = [];
    ctx.setFdHandler(r, {
      read: () => {
        calls.push('read');
        readAvailable(r);
      },
    });
    ctx.setEventNotifier(n, {
      read: (e) => {
        calls.push('notifier');
        e.testAndClear();
      },
    });
    drainMain(mc);

    // GLib waits (iteration(true) blocks until the fd is ready).
    writeBytes(w);
    iterateUntil(mc, ctx, () => calls.length === 1);
    t.deepEqual(calls, ['read']);
    n.set();
    iterateUntil(mc, ctx, () => calls.length === 2);
    t.deepEqual(calls, ['read', 'notifier']);
    drainMain(mc);
    t.is(calls.length, 2, 'nothing runs twice');

    // poll() on the same context, then GLib again.
    writeBytes(w);
    pollUntil(ctx, () => calls.length === 3);
    t.is(calls[2], 'read');
    n.set();
    iterateUntil(mc, ctx, () => calls.length === 4);
    t.is(calls[3], 'notifier');

    // A write handler, a replacement and a removal, all under GLib.
    let writes = 0;
    ctx.setFdHandler(w, {
      write: () => {
        writes++;
        if (writes === 3) ctx.setFdHandler(w, null);
      },
    });
    iterateUntil(mc, ctx, () => writes === 3);
    drainMain(mc);
    t.is(writes, 3, 'removed from its own callback');
    ctx.setFdHandler(r, {
      read: () => {
        calls.push('read2');
        readAvailable(r);
      },
    });
    writeBytes(w);
    iterateUntil(mc, ctx, () => calls.length === 5);
    t.is(calls[4], 'read2');
    ctx.setFdHandler(r, null);
    ctx.setEventNotifier(n, null);
    writeBytes(w);
    n.set();
    drainMain(mc);
    t.false(ctx.poll(false));
    t.is(calls.length, 5, 'removed handlers stay quiet');
    t.is(ctx.stats.fdmon, fdmon === 'auto' ? 'poll' : fdmon);
  });

  test(`fdmon: [${fdmon}] many fds and churn under MainContext.iteration()`, (t) => {
    const { ctx, mc } = openAttached(t, { fdmon });
    const pipes = openPipes(t, 100);
    const counts: number[] = [];
    watchAll(ctx, pipes, counts);
    drainMain(mc);
    for (let round = 0; round < 3; round++) {
      const picked = [round, 50 + round, 99 - round];
      for (const i of picked) writeBytes(pipes[i][1]);
      iterateUntil(mc, ctx, () => picked.every((i) => counts[i] === 1));
      drainMain(mc);
      t.is(
        counts.reduce((a, b) => a + b, 0),
        3,
        `round ${round}: exactly the three written`,
      );
      // Re-register everything (new nodes, old ones retired) between rounds.
      watchAll(ctx, pipes, counts);
    }
    // poll() sees the same handlers.
    writeBytes(pipes[42][1]);
    t.true(ctx.poll(false));
    t.is(counts[42], 1);
    t.is(ctx.stats.fdmon, fdmon === 'auto' ? 'epoll' : fdmon, 'auto moved to epoll under GLib');
    unwatchAll(ctx, pipes);
    drainMain(mc);
  });
}

test('fdmon: poll(false) with 1,000 idle fds finds the one busy fd on every monitor', (t) => {
  const pipes = openPipes(t, 1000);
  for (const fdmon of MONITORS) {
    const ctx = openContext(t, { fdmon });
    const counts: number[] = [];
    watchAll(ctx, pipes, counts);
    t.false(ctx.poll(false), `${fdmon}: all idle`);
    writeBytes(pipes[777][1]);
    t.true(ctx.poll(false));
    t.is(counts[777], 1, fdmon);
    t.is(
      counts.reduce((a, b) => a + b, 0),
      1,
      fdmon,
    );
    t.false(ctx.poll(false));
    unwatchAll(ctx, pipes);
    ctx.close();
  }
});

test('fdmon: MainContext.default() drives an io_uring context too', (t) => {
  const ctx = openContext(t, { fdmon: 'io_uring' });
  const mc = MainContext.default();
  ctx.attach(mc);
  t.teardown(() => {
    if (!ctx.closed) ctx.detach();
  });
  const [r, w] = openPipes(t, 1)[0];
  let reads = 0;
  ctx.setFdHandler(r, {
    read: () => {
      reads++;
      readAvailable(r);
    },
  });
  writeBytes(w);
  iterateUntil(mc, ctx, () => reads === 1);
  t.is(reads, 1);
  ctx.setFdHandler(r, null);
});
