import test from 'ava';
import { execFileSync } from 'node:child_process';
import { AioContext, SCALE_MS, virtualClock } from 'aiocontext';

// The virtual clock is process-wide: these tests run one at a time and
// leave it running.
test.afterEach.always(() => {
  virtualClock.resume();
});

test.serial('virtual-clock: stop freezes now(), step moves it, resume runs on', (t) => {
  virtualClock.stop();
  t.true(virtualClock.stopped);
  const frozen = virtualClock.now();
  t.is(virtualClock.now(), frozen);
  virtualClock.step(5 * SCALE_MS);
  t.is(virtualClock.now(), frozen + 5 * SCALE_MS);
  virtualClock.resume();
  t.false(virtualClock.stopped);
  t.true(virtualClock.now() >= frozen + 5 * SCALE_MS);
});

test.serial('virtual-clock: a stopped clock runs timers only when stepped to them', (t) => {
  const ctx = new AioContext();
  const ran: number[] = [];
  const a = ctx.timer('virtual', SCALE_MS, () => ran.push(1));
  const b = ctx.timer('virtual', SCALE_MS, () => ran.push(2));
  virtualClock.stop();
  const nowMs = Math.floor(virtualClock.now() / SCALE_MS);
  a.mod(nowMs + 10);
  b.mod(nowMs + 20);
  // Waiting cannot make a stopped clock's timers due: no deadline.
  t.is(ctx.computeTimeout(), -1);
  t.false(ctx.poll(false));
  virtualClock.step(10 * SCALE_MS);
  t.is(ctx.computeTimeout(), 0);
  t.true(ctx.poll(false));
  t.deepEqual(ran, [1]);
  virtualClock.step(10 * SCALE_MS);
  t.true(ctx.poll(false));
  t.deepEqual(ran, [1, 2]);
  t.false(ctx.poll(false));
  a.delete();
  b.delete();
  ctx.close();
});

test.serial('virtual-clock: step() wakes a context (notified)', (t) => {
  const ctx = new AioContext();
  ctx.poll(false);
  t.false(ctx.stats.notified);
  virtualClock.step(1);
  t.true(ctx.stats.notified);
  ctx.close();
});

test.serial('virtual-clock: step() rejects bad input and changes nothing', (t) => {
  virtualClock.stop();
  const before = virtualClock.now();
  t.throws(() => virtualClock.step(-1), { instanceOf: RangeError });
  t.throws(() => virtualClock.step(1.5), { instanceOf: RangeError });
  t.throws(() => virtualClock.step('1' as unknown as number), { instanceOf: TypeError });
  t.is(virtualClock.now(), before);
});

// issue #13, defect 4: step() added without an overflow check; 1,023 steps of
// 2**53 - 1 ns made now() negative. In a child process: the clock is
// process-wide and only moves forward.
test.serial('virtual-clock: a step that would pass 2**63 - 1 ns is a RangeError and changes nothing', (t) => {
  const script = `
    import { virtualClock } from 'aiocontext';
    const big = 2 ** 53 - 1;
    virtualClock.stop();
    let steps = 0;
    let error;
    for (;;) {
      const before = virtualClock.now();
      try {
        virtualClock.step(big);
      } catch (err) {
        error = { name: err.name, code: err.code, same: virtualClock.now() === before };
        break;
      }
      steps++;
      if (virtualClock.now() < before) { error = { name: 'wrapped' }; break; }
      if (steps > 1100) break;
    }
    virtualClock.resume();
    const positive = virtualClock.now() > 0;
    process.stdout.write(JSON.stringify({ steps, error, positive }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const result = JSON.parse(out) as { steps: number; error?: { name: string; code?: string; same?: boolean }; positive: boolean };
  t.true(result.steps >= 1000 && result.steps <= 1024, `steps: ${result.steps}`);
  t.deepEqual(result.error, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', same: true });
  t.true(result.positive, 'now() never goes negative');
});
