/*
 * ctx.threadPool: the behaviours of QEMU's thread-pool tests, in our own
 * code, on real worker threads: submit (no completion), submit-aio (the
 * callback never runs before the first poll), submit-many (100 jobs, every
 * callback exactly once), cancel (100 long jobs: queued ones complete with
 * ECANCELED, running ones with their result, and the counts add up),
 * cancel-async, and thread spawn / idle exit with min and max, watched
 * through threadPool.stats.  Jobs are the test helper's sleeping workers
 * (threadPoolJob); the same pool runs the 'threads' file engine.
 */
import test from 'ava';
import { AioContext } from 'aiocontext';
import { threadPoolJob } from './helpers/testing.js';
import { spinUntil } from './helpers/files.js';
import { openContext, pollUntil, sleepMs, throwsAio } from './helpers/loop.js';

const ECANCELED = -125;

test('stats before the first job: no pool yet, the default parameters', (t) => {
  const ctx = openContext(t);
  t.deepEqual(ctx.threadPool.stats, { threads: 0, idle: 0, queued: 0, active: 0, min: 0, max: 64 });
  t.is(ctx.threadPool, ctx.threadPool, 'one object per context');
  t.is(ctx.threadPool.context, ctx);
});

test('submit: a job without a completion runs on a worker; the pool counts it until done', (t) => {
  const ctx = openContext(t);
  t.is(threadPoolJob(ctx, 20_000, 0, null), null);
  t.is(ctx.threadPool.stats.queued + ctx.threadPool.stats.active, 1);
  spinUntil(ctx, () => ctx.threadPool.stats.active === 1);
  spinUntil(ctx, () => ctx.threadPool.stats.active === 0 && ctx.threadPool.stats.queued === 0);
  t.is(ctx.threadPool.stats.threads, 1);
  t.is(ctx.threadPool.stats.idle, 1);
});

test('submit-aio: the callback does not run before the first poll, then exactly once', (t) => {
  const ctx = openContext(t);
  const results: number[] = [];
  const job = threadPoolJob(ctx, 0, 42, (ret) => results.push(ret))!;
  sleepMs(20); // even with time for a worker, nothing runs without the loop
  t.deepEqual(results, []);
  t.false(job.done);
  pollUntil(ctx, () => results.length > 0);
  t.deepEqual(results, [42]);
  t.true(job.done);
  job.cancel(); // after completion: nothing
  ctx.poll(false);
  t.deepEqual(results, [42]);
});

test('submit-many: 100 jobs, every callback exactly once with its own value', (t) => {
  const ctx = openContext(t);
  const calls = new Uint32Array(100);
  let done = 0;
  for (let i = 0; i < 100; i++) {
    threadPoolJob(ctx, 100, i, (ret) => {
      calls[ret]++;
      done++;
    });
  }
  pollUntil(ctx, () => done === 100);
  t.true(calls.every((c) => c === 1));
  t.true(ctx.threadPool.stats.threads >= 1);
  t.true(ctx.threadPool.stats.threads <= 64);
});

/** QEMU's cancel test: 100 long jobs, cancel them all once some run. */
function cancelTest(t: import('ava').ExecutionContext, ctx: AioContext, waitEach: boolean): void {
  ctx.threadPool.setParams({ min: 0, max: 4 });
  const n = 100;
  const results: (number | undefined)[] = Array.from({ length: n }, () => undefined);
  const jobs = Array.from({ length: n }, (_, i) =>
    threadPoolJob(ctx, 30_000, 1000 + i, (ret) => {
      t.is(results[i], undefined, 'one completion per job');
      results[i] = ret;
    })!,
  );
  spinUntil(ctx, () => ctx.threadPool.stats.active === 4);
  const running = ctx.threadPool.stats.active;
  for (const job of jobs) {
    job.cancel();
    if (waitEach) ctx.poll(false);
  }
  pollUntil(ctx, () => results.every((r) => r !== undefined), 10_000);
  const cancelled = results.filter((r) => r === ECANCELED).length;
  const completed = results.filter((r, i) => r === 1000 + i).length;
  t.is(cancelled + completed, n, 'every job is either cancelled or complete with its result');
  t.true(completed >= running, `the ${running} running jobs completed normally (${completed} completed)`);
  // How many were still queued depends on the scheduler (30 ms jobs on a
  // loaded machine); with 100 jobs on 4 threads, some always are.
  t.true(cancelled > 0, `queued jobs were cancelled (${cancelled})`);
  t.log(`${cancelled} cancelled, ${completed} completed`);
  t.true(jobs.every((j) => j.done));
  // A worker posts its completion just before it stops counting as active:
  // the last callbacks can run while it is still on its way back to idle.
  spinUntil(ctx, () => ctx.threadPool.stats.active === 0);
  t.deepEqual(
    { queued: ctx.threadPool.stats.queued, active: ctx.threadPool.stats.active },
    { queued: 0, active: 0 },
  );
}

test('cancel: queued jobs complete with ECANCELED, running ones with their result; counts add up', (t) => {
  cancelTest(t, openContext(t), true);
});

test('cancel-async: cancel every job without polling in between; the loop delivers every callback once', (t) => {
  cancelTest(t, openContext(t), false);
});

test('spawn: threads are started from the loop, lazily, never above max; min are started by setParams', (t) => {
  const ctx = openContext(t);
  let first = 0;
  threadPoolJob(ctx, 0, 0, () => first++); // creates the pool
  t.is(ctx.threadPool.stats.threads, 1, 'one thread on its way (counted while being started)');
  pollUntil(ctx, () => first === 1);
  t.is(ctx.threadPool.stats.threads, 1, 'one thread for one job');
  ctx.threadPool.setParams({ min: 2, max: 3 });
  t.deepEqual({ min: ctx.threadPool.stats.min, max: ctx.threadPool.stats.max }, { min: 2, max: 3 });
  spinUntil(ctx, () => ctx.threadPool.stats.threads === 2 && ctx.threadPool.stats.idle === 2);
  let done = 0;
  let maxThreads = 0;
  for (let i = 0; i < 12; i++) threadPoolJob(ctx, 20_000, i, () => done++);
  spinUntil(ctx, () => {
    maxThreads = Math.max(maxThreads, ctx.threadPool.stats.threads);
    return done === 12;
  });
  t.is(maxThreads, 3, 'grew to max, not beyond');
});

test('idle exit: a thread above min exits after 10 s idle; min stay', (t) => {
  t.timeout(30_000);
  const ctx = openContext(t);
  ctx.threadPool.setParams({ min: 1, max: 2 });
  let done = 0;
  for (let i = 0; i < 4; i++) threadPoolJob(ctx, 50_000, i, () => done++);
  spinUntil(ctx, () => ctx.threadPool.stats.threads === 2);
  spinUntil(ctx, () => done === 4);
  t.is(ctx.threadPool.stats.threads, 2);
  const idleSince = Date.now();
  spinUntil(ctx, () => ctx.threadPool.stats.threads === 1, 20_000);
  const waited = Date.now() - idleSince;
  t.true(waited >= 9_000, `the extra thread exited after ${waited} ms idle`);
  sleepMs(200);
  ctx.poll(false);
  t.is(ctx.threadPool.stats.threads, 1, 'min threads stay');
});

test('setParams: QEMU\'s checks, exact messages, nothing changes on error', (t) => {
  const ctx = openContext(t);
  ctx.threadPool.setParams({ min: 1, max: 5 });
  const before = ctx.threadPool.stats;
  t.throws(() => ctx.threadPool.setParams({ min: 3, max: 2 }), {
    instanceOf: RangeError,
    message: 'The "p.min" property must be at most p.max (2). Received 3',
  });
  t.throws(() => ctx.threadPool.setParams({ min: 0, max: 0 }), {
    instanceOf: RangeError,
    message: 'The "p.max" property must be at least 1. Received 0',
  });
  t.throws(() => ctx.threadPool.setParams({ min: -1, max: 2 }), { instanceOf: RangeError });
  t.throws(() => ctx.threadPool.setParams({ min: 1.5, max: 2 }), { instanceOf: RangeError });
  t.throws(() => ctx.threadPool.setParams({ min: 0, max: 2 ** 31 }), { instanceOf: RangeError });
  t.throws(() => ctx.threadPool.setParams({ min: '1', max: 2 } as unknown as { min: number; max: number }), {
    instanceOf: TypeError,
    message: 'The "p.min" property must be of type number. Received type string (\'1\')',
  });
  t.throws(() => ctx.threadPool.setParams(null as unknown as { min: number; max: number }), { instanceOf: TypeError });
  t.deepEqual(ctx.threadPool.stats, before);
  const pool = ctx.threadPool;
  ctx.close();
  throwsAio(t, () => pool.stats, 'ERR_AIO_CLOSED');
  throwsAio(t, () => pool.setParams({ min: 0, max: 1 }), 'ERR_AIO_CLOSED');
});
