/*
 * Bad input fails loudly and changes nothing; use after close() throws
 * ERR_AIO_CLOSED; exceptions thrown by callbacks reach the JS caller that drove
 * the loop (alone, or as an AggregateError in the order thrown) and leave the
 * context working. API.md "Semantics"; the AioError/AggregateError rules of
 * this issue.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  AioContext,
  AioError,
  BottomHalf,
  EventNotifier,
  MainContext,
  NodeLoopHandle,
  RemoteBottomHalf,
  RemoteContext,
  SCALE_MS,
  SCALE_NS,
  Timer,
  clockNs,
  pipe,
  remoteBottomHalf,
  remoteContext,
} from 'aiocontext';
import {
  closeFds,
  drain,
  drainMain,
  openAttached,
  openContext,
  readAvailable,
  statsSnapshot,
  throwsAio,
  watchdog,
  writeBytes,
} from './helpers/loop.js';

const noop = (): void => {};

/** Casts a deliberately wrong value past the type checker. */
function bad<T>(value: unknown): T {
  return value as T;
}

function fresh(t: ExecutionContext): AioContext {
  const ctx = openContext(t);
  drain(ctx);
  return ctx;
}

/** Asserts `fn` throws `errorClass` and that ctx.stats did not change. */
function rejects(
  t: ExecutionContext,
  ctx: AioContext,
  label: string,
  errorClass: new (...args: never[]) => Error,
  fn: () => unknown,
): void {
  const before = statsSnapshot(ctx);
  t.throws(fn, { instanceOf: errorClass }, label);
  t.deepEqual(statsSnapshot(ctx), before, `${label}: state unchanged`);
}

/* ------------------------------------------------------------ AioError */

test('errors: AioError is an exported Error subclass with a code', (t) => {
  const ctx = new AioContext();
  ctx.close();
  const err = throwsAio(t, () => ctx.poll(false), 'ERR_AIO_CLOSED');
  t.true(err instanceof Error);
  t.is(typeof err?.message, 'string');
  t.true((err?.message ?? '').length > 0);
});

/* ------------------------------------------------------------ TypeError */

// issue #13, smaller findings: objects made only by factories.
test('errors: public constructors of factory-made objects throw ERR_ILLEGAL_CONSTRUCTOR', (t) => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['BottomHalf', () => Reflect.construct(BottomHalf, []), /ctx\.bh|prototype\.bh/],
    ['Timer', () => Reflect.construct(Timer, []), /prototype\.timer/],
    ['NodeLoopHandle', () => Reflect.construct(NodeLoopHandle, []), /attachToNodeLoop/],
    ['RemoteContext', () => Reflect.construct(RemoteContext, [{}, { kind: 'aio-context', id: 1 }]), /remoteContext\(token\)/],
    ['RemoteBottomHalf', () => Reflect.construct(RemoteBottomHalf, [42, 'x']), /remoteBottomHalf\(token\)/],
  ];
  for (const [name, make, how] of cases) {
    const err = t.throws(make, { instanceOf: TypeError }, name);
    t.is((err as NodeJS.ErrnoException).code, 'ERR_ILLEGAL_CONSTRUCTOR', name);
    t.regex(err!.message, how, name);
  }
  // The factories still work, and their objects are instances of the classes.
  const ctx = new AioContext();
  try {
    const bh = ctx.bh(() => {});
    t.true(bh instanceof BottomHalf);
    t.true(remoteContext(ctx.share()) instanceof RemoteContext);
    t.true(remoteBottomHalf(bh.share()) instanceof RemoteBottomHalf);
    const timer = ctx.timer('realtime', SCALE_MS, () => {});
    t.true(timer instanceof Timer);
    timer.delete();
    bh.delete();
  } finally {
    ctx.close();
  }
});

test('errors: new AioError() makes a message of any value', (t) => {
  const sym = new AioError(Symbol('s') as unknown as string, 'EINVAL');
  t.is(sym.message, 'Symbol(s)');
  t.is(sym.code, 'EINVAL');
  const bad = {
    toString(): string {
      throw new Error('no');
    },
  };
  t.is(new AioError(bad as unknown as string, 'EINVAL').message, '[object Object]');
  t.is(new AioError(undefined as unknown as string, 'EINVAL').message, 'undefined');
  t.is(new AioError(12 as unknown as string, 'EINVAL').message, '12');
});

test('errors: non-function callbacks throw TypeError', (t) => {
  const ctx = fresh(t);
  for (const cb of [undefined, null, 123, 'cb', {}, []]) {
    rejects(t, ctx, `bh(${String(cb)})`, TypeError, () => ctx.bh(bad(cb)));
    rejects(t, ctx, `scheduleOneshot(${String(cb)})`, TypeError, () => ctx.scheduleOneshot(bad(cb)));
    rejects(t, ctx, `timer(..., ${String(cb)})`, TypeError, () => ctx.timer('realtime', SCALE_NS, bad(cb)));
  }
  t.is(ctx.stats.bhs, 0);
  t.is(ctx.stats.timers, 0);
});

test('errors: bad BH options throw TypeError', (t) => {
  const ctx = fresh(t);
  rejects(t, ctx, 'name: 5', TypeError, () => ctx.bh(noop, bad({ name: 5 })));
  rejects(t, ctx, 'options: "x"', TypeError, () => ctx.bh(noop, bad('x')));
});

test('errors: non-boolean blocking throws TypeError', (t) => {
  const ctx = fresh(t);
  const wd = watchdog(ctx, 500); // a coerced `true` would block: bound it
  t.teardown(() => wd.dispose());
  drain(ctx);
  for (const v of [undefined, null, 0, 1, 'true', {}]) {
    rejects(t, ctx, `poll(${JSON.stringify(v) ?? 'undefined'})`, TypeError, () => ctx.poll(bad(v)));
  }
  t.false(wd.fired);
});

test('errors: bad clock names throw TypeError', (t) => {
  const ctx = fresh(t);
  for (const clock of ['bogus', 'REALTIME', '', 0, null]) {
    rejects(t, ctx, `timer(${String(clock)})`, TypeError, () => ctx.timer(bad(clock), SCALE_NS, noop));
    t.throws(() => clockNs(bad(clock)), { instanceOf: TypeError }, `clockNs(${String(clock)})`);
  }
  // undefined means the default clock
  t.true(clockNs(undefined) > 0);
});

test('errors: wrong handler types throw TypeError', (t) => {
  const ctx = fresh(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  rejects(t, ctx, 'fd "3"', TypeError, () => ctx.setFdHandler(bad('3'), { read: noop }));
  rejects(t, ctx, 'handlers 5', TypeError, () => ctx.setFdHandler(r, bad(5)));
  rejects(t, ctx, 'handlers "x"', TypeError, () => ctx.setFdHandler(r, bad('x')));
  rejects(t, ctx, 'read: 5', TypeError, () => ctx.setFdHandler(r, bad({ read: 5 })));
  rejects(t, ctx, 'write: "x"', TypeError, () => ctx.setFdHandler(w, bad({ write: 'x' })));
  rejects(t, ctx, 'poll: 1', TypeError, () => ctx.setFdHandler(r, bad({ read: noop, poll: 1 })));
  t.is(ctx.stats.handlers, 0);
});

test('errors: setEventNotifier needs an EventNotifier and function handlers', (t) => {
  const ctx = fresh(t);
  const n = new EventNotifier();
  t.teardown(() => n.close());
  for (const v of [undefined, null, 5, {}, { fd: n.fd }]) {
    rejects(t, ctx, `notifier ${JSON.stringify(v) ?? 'undefined'}`, TypeError, () =>
      ctx.setEventNotifier(bad(v), { read: noop }),
    );
  }
  rejects(t, ctx, 'read: 5', TypeError, () => ctx.setEventNotifier(n, bad({ read: 5 })));
  rejects(t, ctx, 'handlers 5', TypeError, () => ctx.setEventNotifier(n, bad(5)));
  t.is(ctx.stats.handlers, 0);
});

test('errors: bad context options throw TypeError', (t) => {
  for (const options of [5, 'x', { name: 5 }, { fdmon: 'nope' }, { fdmon: 1 }, { poll: 5 }, { poll: { maxNs: 'x' } }]) {
    t.throws(() => new AioContext(bad(options)), { instanceOf: TypeError }, JSON.stringify(options));
  }
});

test('errors: bad setPollParams / attach / iteration / EventNotifier arguments throw TypeError', (t) => {
  const { ctx, mc } = openAttached(t);
  rejects(t, ctx, 'setPollParams(5)', TypeError, () => ctx.setPollParams(bad(5)));
  rejects(t, ctx, 'setPollParams(null)', TypeError, () => ctx.setPollParams(bad(null)));
  rejects(t, ctx, 'setPollParams({maxNs:"x"})', TypeError, () => ctx.setPollParams(bad({ maxNs: 'x' })));
  const id = ctx.sourceId;
  ctx.detach();
  rejects(t, ctx, 'attach("x")', TypeError, () => ctx.attach(bad('x')));
  rejects(t, ctx, 'attach({})', TypeError, () => ctx.attach(bad({})));
  rejects(t, ctx, 'attach(mc, {priority:"high"})', TypeError, () => ctx.attach(mc, bad({ priority: 'high' })));
  t.is(ctx.sourceId, null, 'still detached');
  t.true(typeof id === 'number');
  ctx.attach(mc);
  const wd = watchdog(ctx, 500); // a coerced `true` would block: bound it
  t.teardown(() => wd.dispose());
  drainMain(mc);
  t.throws(() => mc.iteration(bad('yes')), { instanceOf: TypeError });
  t.throws(() => mc.iteration(bad(undefined)), { instanceOf: TypeError });
  t.throws(() => new EventNotifier(bad('yes')), { instanceOf: TypeError });
});

test('errors: bad timer arguments throw TypeError', (t) => {
  const ctx = fresh(t);
  const timer = ctx.timer('realtime', SCALE_MS, noop);
  t.teardown(() => timer.delete());
  for (const v of ['5', null, undefined, {}]) {
    t.throws(() => timer.mod(bad(v)), { instanceOf: TypeError }, `mod(${String(v)})`);
    t.throws(() => timer.modNs(bad(v)), { instanceOf: TypeError }, `modNs(${String(v)})`);
    t.throws(() => timer.modAnticipate(bad(v)), { instanceOf: TypeError }, `modAnticipate(${String(v)})`);
    t.throws(() => timer.expired(bad(v)), { instanceOf: TypeError }, `expired(${String(v)})`);
  }
  t.false(timer.pending);
  rejects(t, ctx, 'timer options 5', TypeError, () => ctx.timer('realtime', SCALE_MS, noop, bad(5)));
  rejects(t, ctx, 'scale "1"', TypeError, () => ctx.timer('realtime', bad('1'), noop));
});

/* ----------------------------------------------------------- RangeError */

test('errors: negative, non-integer and NaN fds throw RangeError', (t) => {
  const ctx = fresh(t);
  for (const fd of [-1, -100, 1.5, 0.1, NaN, Infinity, -Infinity]) {
    rejects(t, ctx, `fd ${fd}`, RangeError, () => ctx.setFdHandler(fd, { read: noop }));
    rejects(t, ctx, `fd ${fd} (remove)`, RangeError, () => ctx.setFdHandler(fd, null));
  }
});

test('errors: bad scales throw RangeError', (t) => {
  const ctx = fresh(t);
  for (const scale of [0, -1, -SCALE_MS, 1.5, NaN]) {
    rejects(t, ctx, `scale ${scale}`, RangeError, () => ctx.timer('realtime', scale, noop));
  }
  t.is(ctx.stats.timers, 0);
});

/* ---------------------------------------------------------------- EBADF */

test('errors: a closed fd number throws EBADF and registers nothing', (t) => {
  const ctx = fresh(t);
  const [r, w] = pipe();
  closeFds(r, w);
  for (const fd of [r, w, 999_999]) {
    const before = statsSnapshot(ctx);
    throwsAio(t, () => ctx.setFdHandler(fd, { read: noop }), 'EBADF', `fd ${fd}`);
    throwsAio(t, () => ctx.setFdHandler(fd, { write: noop }), 'EBADF', `fd ${fd}`);
    t.deepEqual(statsSnapshot(ctx), before);
  }
  t.false(ctx.poll(false));
});

test('errors: a closed EventNotifier is refused', (t) => {
  const ctx = fresh(t);
  const n = new EventNotifier();
  n.close();
  const before = statsSnapshot(ctx);
  const err = t.throws<AioError>(() => ctx.setEventNotifier(n, { read: noop }), { instanceOf: AioError });
  t.true(err?.code === 'EBADF' || err?.code === 'ERR_AIO_CLOSED', `code ${err?.code}`);
  t.deepEqual(statsSnapshot(ctx), before);
});

/* ------------------------------------------------------- ERR_AIO_CLOSED */

test('errors: every method throws ERR_AIO_CLOSED after close()', (t) => {
  const ctx = new AioContext();
  const mc = new MainContext();
  const n = new EventNotifier();
  const [r, w] = pipe();
  t.teardown(() => {
    n.close();
    closeFds(r, w);
  });
  t.false(ctx.closed);
  ctx.close();
  t.true(ctx.closed);
  const calls: Array<[string, () => unknown]> = [
    ['poll(false)', () => ctx.poll(false)],
    ['poll(true)', () => ctx.poll(true)],
    ['notify', () => ctx.notify()],
    ['computeTimeout', () => ctx.computeTimeout()],
    ['bh', () => ctx.bh(noop)],
    ['scheduleOneshot', () => ctx.scheduleOneshot(noop)],
    ['setFdHandler', () => ctx.setFdHandler(r, { read: noop })],
    ['setFdHandler(null)', () => ctx.setFdHandler(r, null)],
    ['setEventNotifier', () => ctx.setEventNotifier(n, { read: noop })],
    ['setEventNotifier(null)', () => ctx.setEventNotifier(n, null)],
    ['timer', () => ctx.timer('realtime', SCALE_MS, noop)],
    ['disableExternal', () => ctx.disableExternal()],
    ['enableExternal', () => ctx.enableExternal()],
    ['setPollParams', () => ctx.setPollParams({ maxNs: 0 })],
    ['acquire', () => ctx.acquire()],
    ['release', () => ctx.release()],
    ['attach(mc)', () => ctx.attach(mc)],
    ['attach()', () => ctx.attach()],
    ['detach', () => ctx.detach()],
  ];
  for (const [name, fn] of calls) throwsAio(t, fn, 'ERR_AIO_CLOSED', name);
  t.true(ctx.closed);
  t.false(mc.iteration(false));
});

test('errors: close() is idempotent', (t) => {
  const ctx = new AioContext();
  ctx.close();
  t.notThrows(() => ctx.close());
  t.notThrows(() => ctx[Symbol.dispose]());
  t.true(ctx.closed);
});

test('errors: Symbol.dispose closes the context', (t) => {
  const ctx = new AioContext();
  ctx[Symbol.dispose]();
  t.true(ctx.closed);
  throwsAio(t, () => ctx.poll(false), 'ERR_AIO_CLOSED');
});

test('errors: `using` closes the context at the end of the block', (t) => {
  let escaped: AioContext | undefined;
  {
    using ctx = new AioContext();
    escaped = ctx;
    t.false(ctx.closed);
    const bh = ctx.bh(noop);
    bh.schedule();
    t.true(ctx.poll(false));
    bh.delete();
    drain(ctx);
  }
  t.true(escaped.closed);
  throwsAio(t, () => escaped?.bh(noop), 'ERR_AIO_CLOSED');
});

test('errors: enableExternal when not disabled throws and changes nothing', (t) => {
  const ctx = fresh(t);
  const before = statsSnapshot(ctx);
  const err = t.throws(() => ctx.enableExternal());
  t.true(err instanceof Error);
  t.log(`enableExternal() threw ${err?.name}${err instanceof AioError ? ` (${err.code})` : ''}`);
  t.false(ctx.externalDisabled);
  t.deepEqual(statsSnapshot(ctx), before);
});

/* --------------------------------------------------- exception routing */

test('errors: a throwing BH makes poll() throw it; the rest of the pass still runs', (t) => {
  const ctx = fresh(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const order: string[] = [];
  const boom = new Error('boom');
  const a = ctx.bh(() => {
    order.push('a');
  });
  const b = ctx.bh(() => {
    order.push('b');
    throw boom;
  });
  const c = ctx.bh(() => {
    order.push('c');
  });
  ctx.setFdHandler(r, {
    read: () => {
      order.push('fd');
      readAvailable(r);
    },
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    order.push('timer');
  });
  drain(ctx);
  a.schedule();
  b.schedule();
  c.schedule();
  writeBytes(w);
  timer.modNs(1);
  const err = t.throws(() => ctx.poll(false));
  t.is(err, boom, 'the very same error object');
  t.deepEqual(order, ['c', 'b', 'a', 'fd', 'timer']);
  t.is(ctx.stats.notifyMe, 0);
  t.false(ctx.poll(false), 'nothing left over');

  // the context still works, including the BH that threw
  order.length = 0;
  a.schedule();
  t.true(ctx.poll(false));
  t.deepEqual(order, ['a']);
  for (const bh of [a, b, c]) bh.delete();
  ctx.setFdHandler(r, null);
  timer.delete();
  drain(ctx);
  t.is(ctx.stats.bhs, 0);
});

test('errors: two throwing callbacks give an AggregateError in the order thrown', (t) => {
  const ctx = fresh(t);
  const ex = new Error('x');
  const ey = new Error('y');
  const x = ctx.bh(() => {
    throw ex;
  });
  const y = ctx.bh(() => {
    throw ey;
  });
  x.schedule();
  y.schedule(); // LIFO: y runs first
  const err = t.throws<AggregateError>(() => ctx.poll(false), { instanceOf: AggregateError });
  t.is(err?.errors.length, 2);
  t.is(err?.errors[0], ey);
  t.is(err?.errors[1], ex);
  t.false(ctx.poll(false));
  x.delete();
  y.delete();
  drain(ctx);
});

test('errors: throwing BH, fd handler and timer in one pass → AggregateError [bh, fd, timer]', (t) => {
  const ctx = fresh(t);
  const [r, w] = pipe();
  t.teardown(() => closeFds(r, w));
  const eb = new Error('bh');
  const ef = new Error('fd');
  const et = new Error('timer');
  const bh = ctx.bh(() => {
    throw eb;
  });
  ctx.setFdHandler(r, {
    read: () => {
      readAvailable(r);
      throw ef;
    },
  });
  const timer = ctx.timer('realtime', SCALE_NS, () => {
    throw et;
  });
  drain(ctx);
  bh.schedule();
  writeBytes(w);
  timer.modNs(1);
  const err = t.throws<AggregateError>(() => ctx.poll(false), { instanceOf: AggregateError });
  t.deepEqual(err?.errors, [eb, ef, et]);
  t.false(ctx.poll(false));
  ctx.setFdHandler(r, null);
  bh.delete();
  timer.delete();
  drain(ctx);
});

test('errors: non-Error values thrown by a callback are rethrown as they are', (t) => {
  const ctx = fresh(t);
  const bh = ctx.bh(() => {
    throw 42;
  });
  bh.schedule();
  let caught: unknown;
  try {
    ctx.poll(false);
  } catch (e) {
    caught = e;
  }
  t.is(caught, 42);
  bh.delete();
  drain(ctx);
});

test('errors: a throwing BH via iteration() — thrown to the iteration caller', (t) => {
  const { ctx, mc } = openAttached(t);
  const order: string[] = [];
  const boom = new Error('boom');
  const a = ctx.bh(() => {
    order.push('a');
  });
  const b = ctx.bh(() => {
    order.push('b');
    throw boom;
  });
  a.schedule();
  b.schedule();
  const err = t.throws(() => mc.iteration(false));
  t.is(err, boom);
  t.deepEqual(order, ['b', 'a']);
  drainMain(mc);
  // still dispatched afterwards
  a.schedule();
  t.true(mc.iteration(false));
  t.deepEqual(order, ['b', 'a', 'a']);
  a.delete();
  b.delete();
  drainMain(mc);
});

test('errors: two throwing callbacks via iteration() → AggregateError', (t) => {
  const { ctx, mc } = openAttached(t);
  const e1 = new Error('1');
  const e2 = new Error('2');
  const one = ctx.bh(() => {
    throw e1;
  });
  const two = ctx.bh(() => {
    throw e2;
  });
  one.schedule();
  two.schedule();
  const err = t.throws<AggregateError>(() => mc.iteration(false), { instanceOf: AggregateError });
  t.deepEqual(err?.errors, [e2, e1]);
  one.delete();
  two.delete();
  drainMain(mc);
});

test('errors: an error in a nested poll() goes to the nested caller', (t) => {
  const ctx = fresh(t);
  const boom = new Error('inner');
  let caught: unknown;
  let innerRan = 0;
  const inner = ctx.bh(() => {
    innerRan++;
    throw boom;
  });
  const outer = ctx.bh(() => {
    inner.schedule();
    try {
      ctx.poll(false);
    } catch (e) {
      caught = e;
    }
  });
  outer.schedule();
  let progress = false;
  t.notThrows(() => {
    progress = ctx.poll(false);
  });
  t.true(progress);
  t.is(innerRan, 1);
  t.is(caught, boom);
  t.false(ctx.poll(false));
  inner.delete();
  outer.delete();
  drain(ctx);
});

/* -------------------------------------------------------------- fuzz */

const GARBAGE: ReadonlyArray<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['NaN', NaN],
  ['-1', -1],
  ['1.5', 1.5],
  ['2**53', 2 ** 53],
  ["'3'", '3'],
  ['{}', {}],
  ['[]', []],
  ['Symbol()', Symbol('garbage')],
  ['() => {}', () => {}],
];

test('errors: fuzz — every method with garbage either works or throws TypeError/RangeError/AioError', (t) => {
  const ctx = openContext(t);
  const mc = new MainContext();
  const wd = watchdog(ctx, 200);
  t.teardown(() => wd.dispose());
  ctx.attach(mc);
  const n = new EventNotifier();
  const [r, w] = pipe();
  t.teardown(() => {
    n.close();
    closeFds(r, w);
  });
  const timer = ctx.timer('realtime', SCALE_MS, noop);
  const bh = ctx.bh(noop);
  const made: Array<BottomHalf | Timer | AioContext | EventNotifier> = [];
  const failures: string[] = [];
  let calls = 0;

  const methods: Array<[string, (g: unknown) => unknown]> = [
    ['ctx.poll(g)', (g) => ctx.poll(bad(g))],
    ['ctx.notify(g)', (g) => (ctx.notify as (x: unknown) => void)(g)],
    ['ctx.computeTimeout(g)', (g) => (ctx.computeTimeout as (x: unknown) => number)(g)],
    ['ctx.bh(g)', (g) => ctx.bh(bad(g))],
    ['ctx.bh(noop, g)', (g) => ctx.bh(noop, bad(g))],
    ['ctx.bh(noop, {name: g})', (g) => ctx.bh(noop, { name: bad(g) })],
    ['ctx.scheduleOneshot(g)', (g) => ctx.scheduleOneshot(bad(g))],
    ['ctx.setFdHandler(g, {read})', (g) => ctx.setFdHandler(bad(g), { read: noop })],
    ['ctx.setFdHandler(g, null)', (g) => ctx.setFdHandler(bad(g), null)],
    ['ctx.setFdHandler(r, g)', (g) => ctx.setFdHandler(r, bad(g))],
    ['ctx.setFdHandler(r, {read: g})', (g) => ctx.setFdHandler(r, { read: bad(g) })],
    ['ctx.setFdHandler(w, {write: noop, external: g})', (g) => ctx.setFdHandler(w, { write: noop, external: bad(g) })],
    ['ctx.setEventNotifier(g, {read})', (g) => ctx.setEventNotifier(bad(g), { read: noop })],
    ['ctx.setEventNotifier(n, g)', (g) => ctx.setEventNotifier(n, bad(g))],
    ['ctx.timer(g, 1, noop)', (g) => ctx.timer(bad(g), SCALE_NS, noop)],
    ['ctx.timer(rt, g, noop)', (g) => ctx.timer('realtime', bad(g), noop)],
    ['ctx.timer(rt, 1, g)', (g) => ctx.timer('realtime', SCALE_NS, bad(g))],
    ['ctx.timer(rt, 1, noop, g)', (g) => ctx.timer('realtime', SCALE_NS, noop, bad(g))],
    ['ctx.disableExternal(g)+enableExternal(g)', (g) => {
      (ctx.disableExternal as (x: unknown) => void)(g);
      (ctx.enableExternal as (x: unknown) => void)(g);
    }],
    ['ctx.setPollParams(g)', (g) => ctx.setPollParams(bad(g))],
    ['ctx.setPollParams({maxNs: g})', (g) => ctx.setPollParams({ maxNs: bad(g) })],
    ['ctx.acquire(g)+release(g)', (g) => {
      (ctx.acquire as (x: unknown) => void)(g);
      (ctx.release as (x: unknown) => void)(g);
    }],
    ['ctx.detach()+attach(g)', (g) => {
      ctx.detach();
      try {
        ctx.attach(bad(g));
      } finally {
        if (ctx.sourceId !== null) ctx.detach();
        ctx.attach(mc);
      }
    }],
    ['ctx.detach()+attach(mc, g)', (g) => {
      ctx.detach();
      try {
        ctx.attach(mc, bad(g));
      } finally {
        if (ctx.sourceId !== null) ctx.detach();
        ctx.attach(mc);
      }
    }],
    ['mc.iteration(g)', (g) => mc.iteration(bad(g))],
    ['mc.pending(g)', (g) => (mc.pending as (x: unknown) => boolean)(g)],
    ['timer.mod(g)', (g) => timer.mod(bad(g))],
    ['timer.modNs(g)', (g) => timer.modNs(bad(g))],
    ['timer.modAnticipate(g)', (g) => timer.modAnticipate(bad(g))],
    ['timer.expired(g)', (g) => timer.expired(bad(g))],
    ['timer.del(g)', (g) => (timer.del as (x: unknown) => void)(g)],
    ['bh.schedule(g)+cancel(g)', (g) => {
      (bh.schedule as (x: unknown) => void)(g);
      (bh.cancel as (x: unknown) => void)(g);
    }],
    ['clockNs(g)', (g) => clockNs(bad(g))],
    ['new AioContext(g)', (g) => new AioContext(bad(g))],
    ['new EventNotifier(g)', (g) => new EventNotifier(bad(g))],
    ['n.set(g)+testAndClear(g)', (g) => {
      (n.set as (x: unknown) => void)(g);
      (n.testAndClear as (x: unknown) => boolean)(g);
    }],
  ];

  for (const [name, fn] of methods) {
    for (const [label, g] of GARBAGE) {
      wd.rearm(200); // a garbage `blocking` coerced to true must not hang the test
      calls++;
      try {
        const result = fn(g);
        if (result instanceof BottomHalf || result instanceof Timer || result instanceof AioContext || result instanceof EventNotifier) {
          made.push(result);
        }
      } catch (err) {
        const ok = err instanceof TypeError || err instanceof RangeError || err instanceof AioError;
        if (!ok) failures.push(`${name} with g = ${label} threw ${String(err)}`);
      }
      // undo whatever a successful call registered
      try {
        ctx.setFdHandler(bad(g), null);
      } catch {
        /* g is not an fd */
      }
      try {
        ctx.setFdHandler(r, null);
        ctx.setFdHandler(w, null);
        ctx.setEventNotifier(n, null);
      } catch (err) {
        failures.push(`cleanup after ${name} with g = ${label} threw ${String(err)}`);
      }
    }
  }
  t.true(calls >= methods.length * GARBAGE.length);
  t.deepEqual(failures, []);

  for (const obj of made) {
    if (obj instanceof BottomHalf) obj.delete();
    else if (obj instanceof Timer) obj.delete();
    else if (obj instanceof AioContext) obj.close();
    else obj.close();
  }
  timer.del();
  timer.delete();
  // the context is intact: BHs, oneshots and fds still work
  let ran = 0;
  bh.delete();
  drain(ctx);
  const probe = ctx.bh(() => {
    ran++;
  });
  probe.schedule();
  t.true(ctx.poll(false));
  t.is(ran, 1);
  probe.delete();
  drain(ctx);
  drainMain(mc);
  t.is(ctx.stats.handlers, 0);
  t.false(ctx.externalDisabled);
});
