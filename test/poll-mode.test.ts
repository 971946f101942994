/*
 * Busy polling (SEMANTICS.md §3 dispatch, §4 try_poll_mode and adaptive
 * polling) through the JS API: the poll/pollBegin/pollEnd hooks of
 * setFdHandler() and setEventNotifier(), setPollParams() and the
 * constructor's `poll` option, stats.pollNs and stats.pollStarted.
 *
 * Nothing here depends on how fast the machine is.  The adaptive poll time
 * only moves with "how long did this poll() block", so the tests make that
 * duration fall clearly on one side of a threshold:
 *  - a handler whose fd is readable while its poll hook finds nothing makes
 *    poll(true) busy-poll for the full poll time and then see the fd: the
 *    block is a little LONGER than the poll time, so it grows (as long as it
 *    stays under maxNs, which the tests leave a wide margin for);
 *  - a poll hook that sleeps longer than maxNs before reporting work makes a
 *    block longer than maxNs, so it shrinks.
 * They use fdmon 'poll' because that is where busy polling runs for the whole
 * poll time (io_uring stops it as soon as the fd's completion arrives).
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { AioContext, EventNotifier, MainContext, SCALE_MS, pipe } from 'aiocontext';
import type { AioContextOptions, PollParams } from 'aiocontext';
import { closeFds, drain, nowMs, openContext, readAvailable, sleepMs, watchdog, writeBytes } from './helpers/loop.js';

const MS = 1_000_000;
/**
 * A maxNs no block in these tests comes near, even on a loaded machine: a
 * block longer than maxNs would shrink the poll time (to 0) and change what
 * the next poll() does.
 */
const LONG = 1000 * MS;

/** A pipe whose read end carries a handler with every poll hook, counting calls. */
interface Polled {
  r: number;
  w: number;
  /** Every hook call, in order: 'read', 'poll', 'begin', 'end'. */
  log: string[];
  count(what: string): number;
  /**
   * What the poll hook does: miss (false), hit (true), hit once then miss,
   * miss until pollEnd ran then hit once, or sleep then hit once.
   */
  mode: 'miss' | 'hit' | 'hit-once' | 'after-end' | { sleepMs: number };
  /** Whether the read handler drains the pipe (else the fd stays readable). */
  drainOnRead: boolean;
}

function openCtx(t: ExecutionContext, poll?: PollParams, extra?: AioContextOptions): AioContext {
  const ctx = openContext(t, { fdmon: 'poll', ...extra, ...(poll === undefined ? {} : { poll }) });
  drain(ctx); // also accepts the notification of creation-time updates
  return ctx;
}

function polledPipe(t: ExecutionContext, ctx: AioContext): Polled {
  const [r, w] = pipe();
  t.teardown(() => {
    if (!ctx.closed) ctx.setFdHandler(r, null);
    closeFds(r, w);
  });
  const p: Polled = {
    r,
    w,
    log: [],
    count: (what) => p.log.filter((x) => x === what).length,
    mode: 'miss',
    drainOnRead: true,
  };
  ctx.setFdHandler(r, {
    read: () => {
      p.log.push('read');
      if (p.drainOnRead) readAvailable(r);
    },
    poll: () => {
      p.log.push('poll');
      const mode = p.mode;
      if (mode === 'miss') return false;
      if (mode === 'hit') return true;
      if (mode === 'hit-once' || (mode === 'after-end' && p.log.includes('end'))) {
        p.mode = 'miss';
        return true;
      }
      if (mode === 'after-end') return false;
      sleepMs(mode.sleepMs);
      p.mode = 'miss';
      return true;
    },
    pollBegin: () => {
      p.log.push('begin');
    },
    pollEnd: () => {
      p.log.push('end');
    },
  });
  drain(ctx); // accepts setFdHandler()'s notification, so poll(true) really waits
  return p;
}

/** Makes @p's handler join the poll list: it is dispatched once (SEMANTICS §3 step 2). */
function join(t: ExecutionContext, ctx: AioContext, p: Polled): void {
  // A pending notification (timer_mod, setFdHandler, setPollParams all
  // notify) would make poll(true) return at once: with a poll hook on every
  // handler it then skips the wait altogether (SEMANTICS §4 step 6).
  drain(ctx);
  writeBytes(p.w);
  t.true(ctx.poll(true), 'the read handler ran');
  t.is(p.count('read'), 1);
  p.log.length = 0;
}

/* ------------------------------------------------------------- joining */

test('poll-mode: a handler joins busy polling the first time it is dispatched', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  const wd = watchdog(ctx, 10_000);
  t.teardown(() => wd.dispose());

  // Not dispatched yet: a blocking poll never calls its poll hook.
  let fired = false;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    fired = true;
  });
  t.teardown(() => timer.delete());
  timer.mod(nowMs() + 5);
  while (!fired) ctx.poll(true);
  t.deepEqual(p.log, [], 'no hook ran before the first dispatch');
  t.is(ctx.stats.pollNs, 0);
  t.false(ctx.stats.pollStarted);

  // The first dispatch: it joins, and its poll time starts at 4000 ns.
  writeBytes(p.w);
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['read'], 'joining calls no hook (polling had not started)');
  t.is(ctx.stats.pollNs, 4000);
  t.false(ctx.stats.pollStarted);

  // From now on a blocking poll() busy-polls it first.
  p.log.length = 0;
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll']);
  t.true(ctx.stats.pollStarted);
  t.false(wd.fired);
});

test('poll-mode: without poll params (maxNs 0) a handler never busy-polls', (t) => {
  const ctx = openCtx(t);
  const p = polledPipe(t, ctx);
  p.mode = 'hit';
  for (let i = 0; i < 3; i++) {
    writeBytes(p.w);
    t.true(ctx.poll(true));
  }
  t.deepEqual(p.log, ['read', 'read', 'read'], 'the hooks were never called');
  t.is(ctx.stats.pollNs, 0);
  t.false(ctx.stats.pollStarted);
});

test('poll-mode: the constructor poll option is setPollParams()', (t) => {
  const a = openCtx(t, { maxNs: LONG });
  const b = openCtx(t);
  b.setPollParams({ maxNs: LONG });
  for (const ctx of [a, b]) {
    const p = polledPipe(t, ctx);
    join(t, ctx, p);
    t.is(ctx.stats.pollNs, 4000);
    p.mode = 'hit-once';
    t.true(ctx.poll(true));
    t.deepEqual(p.log, ['begin', 'poll']);
  }
});

/* --------------------------------------------------------- begin / end */

test('poll-mode: pollBegin and pollEnd run only when busy polling starts or stops', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  const wd = watchdog(ctx, 10_000);
  t.teardown(() => wd.dispose());
  join(t, ctx, p);

  p.mode = 'hit';
  for (let i = 0; i < 5; i++) t.true(ctx.poll(true), `hit #${i + 1}`);
  t.is(p.count('begin'), 1, 'begin once for five polling rounds');
  t.is(p.count('end'), 0);
  t.true(ctx.stats.pollStarted);

  // Nothing found: after the poll time (microseconds) of polling, poll()
  // blocks, so polling stops first (end, then one last poll), and the 50 ms
  // timer wakes it.
  p.log.length = 0;
  p.mode = 'miss';
  let fired = false;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    fired = true;
  });
  t.teardown(() => timer.delete());
  timer.mod(nowMs() + 50);
  drain(ctx); // timer.mod() notified
  t.true(ctx.poll(true), 'the timer ran');
  t.true(fired);
  t.is(p.count('begin'), 0, 'already started');
  t.is(p.count('end'), 1);
  const end = p.log.indexOf('end');
  t.deepEqual(p.log.slice(end), ['end', 'poll'], 'one last poll after end, nothing after');
  t.false(ctx.stats.pollStarted);

  // Polling again: begin again.
  p.log.length = 0;
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll']);
  t.true(ctx.stats.pollStarted);
  t.false(wd.fired);
});

test('poll-mode: a hit in the last poll after pollEnd is progress and skips the wait', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  const wd = watchdog(ctx, 10_000);
  t.teardown(() => wd.dispose());
  join(t, ctx, p);
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.true(ctx.stats.pollStarted);

  // The hook misses for the whole polling time, then hits right after end
  // (QEMU's "an event may have raced with io_poll_end()").
  p.log.length = 0;
  p.mode = 'after-end';
  t.true(ctx.poll(true), 'the race-closing poll found work');
  t.false(wd.fired, 'it did not block until the watchdog');
  t.is(p.count('end'), 1);
  t.deepEqual(p.log.slice(p.log.indexOf('end')), ['end', 'poll']);
  t.is(p.count('read'), 0, 'no fd was ready: the hook did the work');
  t.false(ctx.stats.pollStarted);
});

/* ------------------------------------------------------------ progress */

test('poll-mode: a poll hit is progress though no fd is ready', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  t.is(readAvailable(p.r), 0, 'the pipe is empty');

  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll'], 'no read: the hook did the work');
  p.log.length = 0;
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['poll']);
});

test('poll-mode: a wake-up by notify() while polling is not progress', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  p.mode = 'miss';
  ctx.notify();
  t.false(ctx.poll(true), 'woken by notify() alone');
  t.is(p.count('read'), 0);
  t.true(p.count('poll') >= 1, 'it polled before noticing the notification');
});

test('poll-mode: with a poll hook on every handler, poll(false) makes no wait and calls no hook', (t) => {
  // SEMANTICS §4: a non-blocking poll() never busy-polls (timeout 0), and it
  // waits only if some handler has no poll hook (poll_disable_cnt != 0).
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  p.mode = 'hit';
  writeBytes(p.w);
  for (let i = 0; i < 3; i++) t.false(ctx.poll(false), `poll(false) #${i + 1}`);
  t.deepEqual(p.log, [], 'the readable fd was not even looked at');

  // BHs and timers still make progress.
  let bhRuns = 0;
  const bh = ctx.bh(() => {
    bhRuns++;
  });
  t.teardown(() => bh.delete());
  bh.schedule();
  t.true(ctx.poll(false));
  t.is(bhRuns, 1);
  t.deepEqual(p.log, []);

  // A handler without a poll hook makes poll(false) wait (with timeout 0) again.
  const [r2, w2] = pipe();
  t.teardown(() => closeFds(r2, w2));
  ctx.setFdHandler(r2, { read: () => {} });
  t.true(ctx.poll(false));
  t.deepEqual(p.log, ['read'], 'now the readable fd is seen');
  ctx.setFdHandler(r2, null);
  p.log.length = 0;
  writeBytes(p.w);
  t.false(ctx.poll(false), 'every handler has a poll hook again');
  t.deepEqual(p.log, []);

  // poll(true) finds it through the hook (the handler joined when its read ran).
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll'], 'the hook, not the fd, made the progress');
});

/* ------------------------------------------------- adaptive poll time */

test('poll-mode: stats.pollNs starts at 4000 ns and grows by `grow` up to maxNs', (t) => {
  // maxNs 100 ms and grow 16: 0 -> 4 µs -> 64 µs -> 1 ms -> 16 ms -> 100 ms.
  // Each step blocks for about the current poll time (busy polling that
  // misses, then the readable fd), which stays well under maxNs (at most
  // about 16 ms against 100) until the cap.
  const ctx = openCtx(t, { maxNs: 100 * MS, grow: 16 });
  const p = polledPipe(t, ctx);
  p.drainOnRead = false;
  p.mode = 'miss';
  writeBytes(p.w);
  const seen: number[] = [ctx.stats.pollNs];
  for (let i = 0; i < 5; i++) {
    t.true(ctx.poll(true));
    seen.push(ctx.stats.pollNs);
  }
  t.deepEqual(seen, [0, 4000, 64_000, 1_024_000, 16_384_000, 100 * MS]);
  t.is(p.count('read'), 5);

  // At the cap a miss blocks longer than maxNs: the poll time shrinks, and
  // with shrink 0 (the default) that means back to 0.
  t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 0);
  readAvailable(p.r);
});

test('poll-mode: the default grow factor is 2', (t) => {
  const ctx = openCtx(t, { maxNs: 100 * MS });
  const p = polledPipe(t, ctx);
  p.drainOnRead = false;
  writeBytes(p.w);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    t.true(ctx.poll(true));
    seen.push(ctx.stats.pollNs);
  }
  t.deepEqual(seen, [4000, 8000, 16_000, 32_000]);
  readAvailable(p.r);
});

test('poll-mode: a block longer than maxNs divides the poll time by `shrink`', (t) => {
  // maxNs 100 ms, as the other growth tests: with 10 ms, a 2-core machine
  // running the suite in parallel stalled growth polls past maxNs (shrinks
  // where grows were meant) in two of five full runs.
  const ctx = openCtx(t, { maxNs: 100 * MS, grow: 2, shrink: 4 });
  const p = polledPipe(t, ctx);
  p.drainOnRead = false;
  writeBytes(p.w);
  for (let i = 0; i < 4; i++) t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 32_000);
  readAvailable(p.r);

  // The hook sleeps 150 ms (1.5 × maxNs) before finding work: a long block.
  p.mode = { sleepMs: 150 };
  t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 8000, '32 µs / 4');
  p.mode = { sleepMs: 150 };
  t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 2000, '8 µs / 4');
});

test('poll-mode: a block within the poll time changes nothing', (t) => {
  const ctx = openCtx(t, { maxNs: 100 * MS, grow: 10 });
  const p = polledPipe(t, ctx);
  p.drainOnRead = false;
  writeBytes(p.w);
  for (let i = 0; i < 5; i++) t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 40 * MS);
  readAvailable(p.r);
  // Hits that come at once (well within 40 ms) leave it alone.
  p.mode = 'hit';
  for (let i = 0; i < 5; i++) t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 40 * MS);
});

test('poll-mode: setPollParams() resets every poll time to 0', (t) => {
  const ctx = openCtx(t, { maxNs: 100 * MS });
  const p = polledPipe(t, ctx);
  const q = polledPipe(t, ctx);
  join(t, ctx, p);
  join(t, ctx, q);
  p.drainOnRead = false;
  writeBytes(p.w);
  for (let i = 0; i < 3; i++) t.true(ctx.poll(true));
  t.true(ctx.stats.pollNs > 4000, `grew to ${ctx.stats.pollNs}`);
  readAvailable(p.r);

  ctx.setPollParams({ maxNs: 100 * MS });
  t.is(ctx.stats.pollNs, 0);
  drain(ctx); // setPollParams() notifies
  // Both joined handlers start over from 4000 ns on their next dispatch.
  writeBytes(q.w);
  t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 4000);

  // maxNs 0 turns polling off: polling that was on stops before the next
  // wait, then no hook runs and nothing grows.
  q.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.true(ctx.stats.pollStarted);
  ctx.setPollParams({ maxNs: 0 });
  t.is(ctx.stats.pollNs, 0);
  drain(ctx);
  p.log.length = 0;
  q.log.length = 0;
  writeBytes(p.w);
  t.true(ctx.poll(true));
  t.is(ctx.stats.pollNs, 0);
  t.deepEqual(p.log, ['end', 'poll', 'read'], 'polling that was on stops before the wait');
  t.deepEqual(q.log, ['end', 'poll']);
  t.false(ctx.stats.pollStarted);
  writeBytes(p.w);
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['end', 'poll', 'read', 'read'], 'no hook any more');
  t.deepEqual(q.log, ['end', 'poll']);
});

test('poll-mode: poll parameters are non-negative integers, and bad ones change nothing', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  t.is(ctx.stats.pollNs, 4000);
  const bad: Array<[PollParams, string]> = [
    [{ maxNs: -1 }, 'p.maxNs'],
    [{ maxNs: 1.5 }, 'p.maxNs'],
    [{ maxNs: 1000, grow: 1.5 }, 'p.grow'],
    [{ maxNs: 1000, shrink: -2 }, 'p.shrink'],
    [{ maxNs: 1000, grow: Number.NaN }, 'p.grow'],
  ];
  for (const [params, name] of bad) {
    const err = t.throws(() => ctx.setPollParams(params), { instanceOf: RangeError }, JSON.stringify(params));
    t.true(err?.message.includes(`"${name}"`), err?.message);
    t.throws(() => new AioContext({ poll: params }), { instanceOf: RangeError });
  }
  t.throws(() => ctx.setPollParams({ maxNs: 1000, grow: '2' as unknown as number }), { instanceOf: TypeError });
  t.is(ctx.stats.pollNs, 4000, 'nothing was reset');
});

/* ------------------------------------------------------ GSource driving */

test('poll-mode: a GSource iteration turns busy polling off', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.true(ctx.stats.pollStarted);
  t.deepEqual(p.log, ['begin', 'poll']);

  const mc = new MainContext();
  ctx.attach(mc);
  t.teardown(() => {
    if (!ctx.closed) ctx.detach();
  });
  p.log.length = 0;
  mc.iteration(false);
  t.false(ctx.stats.pollStarted, 'GLib polls the fds itself');
  t.deepEqual(p.log, ['end', 'poll'], 'pollEnd, then the last poll');

  // More iterations change nothing; poll() starts polling again.
  mc.iteration(false);
  mc.iteration(false);
  t.deepEqual(p.log, ['end', 'poll']);
  p.log.length = 0;
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll']);
  t.true(ctx.stats.pollStarted);
});

test('poll-mode: handlers dispatched by a GSource iteration join busy polling too', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  const mc = new MainContext();
  ctx.attach(mc);
  t.teardown(() => {
    if (!ctx.closed) ctx.detach();
  });
  writeBytes(p.w);
  t.true(mc.iteration(true));
  t.deepEqual(p.log, ['read']);
  t.is(ctx.stats.pollNs, 0, 'GLib dispatch does not adapt the poll time');
  // It is on the poll list: once poll() gives it a poll time, it is polled.
  p.log.length = 0;
  writeBytes(p.w);
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['read']);
  t.is(ctx.stats.pollNs, 4000);
  p.log.length = 0;
  p.mode = 'hit-once';
  t.true(ctx.poll(true));
  t.deepEqual(p.log, ['begin', 'poll']);
});

/* ------------------------------------------------------ event notifiers */

test('poll-mode: event-notifier poll hooks receive the notifier', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const n = new EventNotifier();
  t.teardown(() => {
    if (!ctx.closed) ctx.setEventNotifier(n, null);
    n.close();
  });
  const log: string[] = [];
  const args: EventNotifier[] = [];
  let hit = false;
  ctx.setEventNotifier(n, {
    read: (e) => {
      log.push('read');
      args.push(e);
      e.testAndClear();
    },
    poll: (e) => {
      log.push('poll');
      args.push(e);
      const found = hit;
      hit = false;
      return found;
    },
    pollBegin: (e) => {
      log.push('begin');
      args.push(e);
    },
    pollEnd: (e) => {
      log.push('end');
      args.push(e);
    },
  });
  drain(ctx);
  n.set();
  t.true(ctx.poll(true));
  t.deepEqual(log, ['read']);
  t.is(ctx.stats.pollNs, 4000);

  hit = true;
  t.true(ctx.poll(true), 'a notifier poll hit is progress');
  t.deepEqual(log, ['read', 'begin', 'poll']);
  t.true(ctx.stats.pollStarted);

  const mc = new MainContext();
  ctx.attach(mc);
  t.teardown(() => {
    if (!ctx.closed) ctx.detach();
  });
  mc.iteration(false);
  t.deepEqual(log, ['read', 'begin', 'poll', 'end', 'poll']);
  t.is(args.length, log.length);
  t.true(
    args.every((a) => a === n),
    'every hook got the registered EventNotifier',
  );
});

test('poll-mode: an event notifier with only a poll hook is still registered', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const n = new EventNotifier();
  t.teardown(() => {
    if (!ctx.closed) ctx.setEventNotifier(n, null);
    n.close();
  });
  ctx.setEventNotifier(n, { poll: () => false });
  t.is(ctx.stats.handlers, 1);
  ctx.setEventNotifier(n, null);
  t.is(ctx.stats.handlers, 0);
});

/* ----------------------------------------------------- errors, removal */

test('poll-mode: a poll hook that throws stops polling and the error reaches poll()', (t) => {
  const ctx = openCtx(t, { maxNs: 100 * MS });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  let calls = 0;
  ctx.setFdHandler(p.r, {
    read: () => {
      readAvailable(p.r);
    },
    poll: () => {
      calls++;
      throw new Error('boom');
    },
  });
  drain(ctx);
  writeBytes(p.w);
  t.true(ctx.poll(true)); // join the new handler
  t.throws(() => ctx.poll(true), { message: 'boom' });
  t.is(calls, 1, 'one throw ends the busy polling (not one error per pass)');
  // The context is still usable.
  p.mode = 'miss';
  writeBytes(p.w);
  ctx.setFdHandler(p.r, { read: () => readAvailable(p.r) });
  t.true(ctx.poll(true));
});

test('poll-mode: a poll hook may remove its own handler', (t) => {
  const ctx = openCtx(t, { maxNs: LONG });
  const p = polledPipe(t, ctx);
  join(t, ctx, p);
  let calls = 0;
  ctx.setFdHandler(p.r, {
    read: () => {
      readAvailable(p.r);
    },
    poll: () => {
      calls++;
      ctx.setFdHandler(p.r, null);
      return true;
    },
  });
  drain(ctx);
  writeBytes(p.w);
  t.true(ctx.poll(true)); // joins
  t.true(ctx.poll(true), 'the hit before the removal still counts');
  t.is(calls, 1);
  t.is(ctx.stats.handlers, 0);
  t.false(ctx.poll(false));
  t.is(calls, 1, 'never called again');
  t.is(ctx.stats.pollNs, 0, 'no poll handler left');
});

test('poll-mode: closing the context from a poll hook is safe', (t) => {
  const ctx = new AioContext({ fdmon: 'poll', poll: { maxNs: LONG } });
  t.teardown(() => ctx.close());
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  let calls = 0;
  ctx.setFdHandler(r, {
    read: () => {
      readAvailable(r);
    },
    poll: () => {
      calls++;
      ctx.close();
      return true;
    },
  });
  drain(ctx);
  writeBytes(w);
  t.true(ctx.poll(true));
  t.true(ctx.poll(true));
  t.is(calls, 1);
  t.true(ctx.closed);
});

// issue #13, defect 3 (io_uring): a poll(true) that meant to busy-poll but
// did not (completions were waiting) left the polled fd unarmed: it returned
// false with the byte unread. Looped, since it showed 4 runs in 5.
for (const fdmon of ['poll', 'epoll', 'io_uring'] as const) {
  test(`poll-mode [${fdmon}]: a polled fd is read by the poll(true) after a handler is registered again`, (t) => {
    for (let round = 0; round < 50; round++) {
      const ctx = new AioContext({ fdmon, poll: { maxNs: 50_000 } });
      const [r, w] = pipe();
      const n = new EventNotifier();
      try {
        let bytes = 0;
        ctx.setFdHandler(r, {
          read: () => {
            bytes += readAvailable(r);
          },
          poll: () => {
            const got = readAvailable(r);
            bytes += got;
            return got > 0;
          },
        });
        const notifierHooks = { read: (e: EventNotifier) => void e.testAndClear(), poll: () => false };
        ctx.setEventNotifier(n, notifierHooks);
        drain(ctx);
        writeBytes(w);
        t.true(ctx.poll(true));
        writeBytes(w);
        t.true(ctx.poll(true), 'a poll hit');
        t.is(bytes, 2);
        ctx.setEventNotifier(n, notifierHooks);
        writeBytes(w);
        ctx.poll(true);
        t.is(bytes, 3, `round ${round}: the byte is read by that poll(true)`);
        ctx.setFdHandler(r, null);
        ctx.setEventNotifier(n, null);
      } finally {
        ctx.close();
        n.close();
        closeFds(r, w);
      }
    }
  });
}
