/*
 * The fd-handler suite, registered once per fd monitor: fd handlers and event
 * notifiers (readiness, read-before-write, replacement and removal, also from
 * inside callbacks, HUP, closed fds, external handlers, EventNotifier itself
 * and stats.handlers; SEMANTICS.md §3) must behave the same whether a context
 * waits with ppoll, epoll or io_uring.
 *
 * test/fd-handler.test.ts registers it for 'auto' (the default monitor, with
 * io_uring turned off there) with the titles it always had; test/fdmon-{poll,epoll,io_uring}.test.ts register
 * it for theirs, titled "fd-handler [<fdmon>]: ...".
 */
import type { ExecutionContext, TestFn } from 'ava';
import * as fs from 'node:fs';
import { AioContext, EventNotifier, MainContext, SCALE_MS, pipe } from 'aiocontext';
import type { FdMonitor } from 'aiocontext';
import {
  closeFds,
  drain,
  drainMain,
  fillPipe,
  iterateUntil,
  nowMs,
  openContext,
  readAvailable,
  watchdog,
  writeBytes,
} from './loop.js';

/** The test title for @fdmon: 'auto' keeps the original "fd-handler: " titles. */
export function suiteTitle(fdmon: FdMonitor, what: string): string {
  return fdmon === 'auto' ? `fd-handler: ${what}` : `fd-handler [${fdmon}]: ${what}`;
}

/**
 * Known differences of a monitor, registered with test.failing: ava reports
 * them as expected failures, and as errors the day they pass (then remove
 * the entry).  None at present.
 */
const KNOWN_FAILING: Partial<Record<FdMonitor, readonly string[]>> = {};

/** Registers every fd-handler test on @test, each on a fresh context using @fdmon. */
export function registerFdHandlerSuite(base: TestFn, fdmon: FdMonitor): void {
  const title = (what: string): string => suiteTitle(fdmon, what);
  const known = (KNOWN_FAILING[fdmon] ?? []).map(title);
  const test = (name: string, fn: (t: ExecutionContext) => void): void => {
    (known.includes(name) ? base.failing : base)(name, fn);
  };

  test(title('the context uses the fd monitor asked for'), (t) => {
    const ctx = openContext(t, { fdmon });
    const uringOff = process.env.AIOCONTEXT_IO_URING === '0';
    if (fdmon === 'auto') {
      t.is(ctx.stats.fdmon, uringOff ? 'poll' : 'io_uring');
      t.is(ctx.stats.fdmonFallbackReason, uringOff ? 'io_uring turned off by AIOCONTEXT_IO_URING=0' : null);
    } else {
      t.is(ctx.stats.fdmon, fdmon);
      t.is(ctx.stats.fdmonFallbackReason, null);
    }
  });

  function fresh(t: ExecutionContext): AioContext {
    const ctx = openContext(t, { fdmon });
    drain(ctx);
    return ctx;
  }

  function openPipe(t: ExecutionContext): [number, number] {
    const fds = pipe();
    t.teardown(() => closeFds(...fds));
    return fds;
  }

  function notifier(t: ExecutionContext, active = false): EventNotifier {
    const n = new EventNotifier(active);
    t.teardown(() => n.close());
    return n;
  }

  /* ---------------------------------------------------------------- pipe() */

  test(title('pipe() returns two distinct non-blocking fds'), (t) => {
    const [r, w] = openPipe(t);
    t.true(Number.isInteger(r) && r >= 0);
    t.true(Number.isInteger(w) && w >= 0);
    t.not(r, w);
    t.is(readAvailable(r), 0, 'empty pipe: read says EAGAIN instead of blocking');
    writeBytes(w, 3);
    t.is(readAvailable(r), 3);
  });

  /* ------------------------------------------------------------ readiness */

  test(title('read handler fires on data and not before'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let reads = 0;
    let bytes = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
        bytes += readAvailable(r);
      },
    });
    t.false(ctx.poll(false));
    t.false(ctx.poll(false));
    t.is(reads, 0);

    writeBytes(w, 5);
    t.true(ctx.poll(false));
    t.is(reads, 1);
    t.is(bytes, 5);

    t.false(ctx.poll(false), 'drained: no more readiness');
    t.is(reads, 1);

    writeBytes(w, 2);
    t.true(ctx.poll(false));
    t.is(reads, 2);
    t.is(bytes, 7);
    ctx.setFdHandler(r, null);
  });

  test(title('level-triggered — unread data fires again on every poll'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
      },
    });
    writeBytes(w, 1);
    for (let i = 1; i <= 3; i++) {
      t.true(ctx.poll(false));
      t.is(reads, i);
    }
    readAvailable(r);
    t.false(ctx.poll(false));
    t.is(reads, 3);
    ctx.setFdHandler(r, null);
  });

  test(title('poll(true) wakes up for data that is already there'), (t) => {
    const ctx = fresh(t);
    const wd = watchdog(ctx, 10_000);
    t.teardown(() => wd.dispose());
    drain(ctx);
    const [r, w] = openPipe(t);
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
        readAvailable(r);
      },
    });
    drain(ctx);
    writeBytes(w, 1);
    t.true(ctx.poll(true));
    t.is(reads, 1);
    t.false(wd.fired);
    ctx.setFdHandler(r, null);
  });

  test(title('write handler on a pipe write end fires'), (t) => {
    const ctx = fresh(t);
    const [, w] = openPipe(t);
    let writes = 0;
    ctx.setFdHandler(w, {
      write: () => {
        writes++;
      },
    });
    t.true(ctx.poll(false));
    t.is(writes, 1);
    t.true(ctx.poll(false), 'still writable');
    t.is(writes, 2);
    ctx.setFdHandler(w, null);
    t.false(ctx.poll(false));
    t.is(writes, 2);
  });

  test(title('write handler does not fire on a full pipe, and fires once drained'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    t.true(fillPipe(w) > 0);
    let writes = 0;
    ctx.setFdHandler(w, {
      write: () => {
        writes++;
      },
    });
    t.false(ctx.poll(false));
    t.false(ctx.poll(false));
    t.is(writes, 0);
    readAvailable(r);
    t.true(ctx.poll(false));
    t.is(writes, 1);
    ctx.setFdHandler(w, null);
  });

  test(title('read runs before write within one dispatch'), (t) => {
    const ctx = fresh(t);
    // an eventfd that is set is both readable and writable
    const n = notifier(t, true);
    const order: string[] = [];
    ctx.setFdHandler(n.fd, {
      read: () => {
        order.push('read');
        n.testAndClear();
      },
      write: () => {
        order.push('write');
      },
    });
    t.true(ctx.poll(false));
    t.deepEqual(order, ['read', 'write']);
    ctx.setFdHandler(n.fd, null);
  });

  test(title('write is skipped when read removed the handler'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t, true);
    const order: string[] = [];
    ctx.setFdHandler(n.fd, {
      read: () => {
        order.push('read');
        ctx.setFdHandler(n.fd, null);
      },
      write: () => {
        order.push('write');
      },
    });
    t.true(ctx.poll(false));
    t.deepEqual(order, ['read']);
    t.false(ctx.poll(false));
    t.deepEqual(order, ['read']);
    t.is(ctx.stats.handlers, 0);
  });

  /* -------------------------------------------------- registration changes */

  test(title('one handler per fd — setting again replaces it'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    const calls: string[] = [];
    ctx.setFdHandler(r, {
      read: () => {
        calls.push('old');
        readAvailable(r);
      },
    });
    ctx.setFdHandler(r, {
      read: () => {
        calls.push('new');
        readAvailable(r);
      },
    });
    t.is(ctx.stats.handlers, 1);
    writeBytes(w);
    t.true(ctx.poll(false));
    t.deepEqual(calls, ['new']);
    ctx.setFdHandler(r, null);
    t.is(ctx.stats.handlers, 0);
  });

  test(title('replacing read with write changes the events watched'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t, false);
    const calls: string[] = [];
    ctx.setFdHandler(n.fd, {
      read: () => {
        calls.push('read');
      },
    });
    t.false(ctx.poll(false), 'eventfd not set: not readable');
    ctx.setFdHandler(n.fd, {
      write: () => {
        calls.push('write');
      },
    });
    t.true(ctx.poll(false), 'eventfd is writable');
    t.deepEqual(calls, ['write']);
    ctx.setFdHandler(n.fd, null);
  });

  test(title('null removes the handler'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
      },
    });
    t.is(ctx.stats.handlers, 1);
    ctx.setFdHandler(r, null);
    t.is(ctx.stats.handlers, 0);
    writeBytes(w);
    t.false(ctx.poll(false));
    t.is(reads, 0);
    // removing a handler that is not registered is a no-op
    ctx.setFdHandler(r, null);
    t.is(ctx.stats.handlers, 0);
  });

  test(title('handlers with no callbacks are a TypeError and leave the registration (only null removes)'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
        readAvailable(r);
      },
    });
    t.throws(() => ctx.setFdHandler(r, {}), { instanceOf: TypeError });
    t.is(ctx.stats.handlers, 1);
    writeBytes(w);
    t.true(ctx.poll(false));
    t.is(reads, 1);
  });

  test(title('removing a handler from inside its own callback'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
        ctx.setFdHandler(r, null); // data left unread on purpose
      },
    });
    writeBytes(w);
    t.true(ctx.poll(false));
    t.is(reads, 1);
    t.false(ctx.poll(false));
    t.false(ctx.poll(false));
    t.is(reads, 1);
    t.is(ctx.stats.handlers, 0);
  });

  test(title('replacing a handler from inside its own callback'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    const calls: string[] = [];
    ctx.setFdHandler(r, {
      read: () => {
        calls.push('first');
        ctx.setFdHandler(r, {
          read: () => {
            calls.push('second');
            readAvailable(r);
          },
        });
      },
    });
    writeBytes(w);
    t.true(ctx.poll(false));
    t.deepEqual(calls, ['first']);
    t.true(ctx.poll(false));
    t.deepEqual(calls, ['first', 'second']);
    t.false(ctx.poll(false));
    t.is(ctx.stats.handlers, 1);
    ctx.setFdHandler(r, null);
  });

  test(title('removing another ready handler during dispatch skips it'), (t) => {
    const ctx = fresh(t);
    const [r1, w1] = openPipe(t);
    const [r2, w2] = openPipe(t);
    const calls: string[] = [];
    ctx.setFdHandler(r1, {
      read: () => {
        calls.push('one');
        readAvailable(r1);
        ctx.setFdHandler(r2, null);
      },
    });
    ctx.setFdHandler(r2, {
      read: () => {
        calls.push('two');
        readAvailable(r2);
        ctx.setFdHandler(r1, null);
      },
    });
    writeBytes(w1);
    writeBytes(w2);
    t.true(ctx.poll(false));
    t.is(calls.length, 1, `exactly one ran (got ${calls.join(',')})`);
    t.false(ctx.poll(false));
    t.is(calls.length, 1);
    t.is(ctx.stats.handlers, 1);
    for (const fd of [r1, r2]) ctx.setFdHandler(fd, null);
    t.is(ctx.stats.handlers, 0);
  });

  test(title('many handlers added and removed during one dispatch stay consistent'), (t) => {
    const ctx = fresh(t);
    const pipes = Array.from({ length: 8 }, () => openPipe(t));
    const extra = openPipe(t);
    let extraCalls = 0;
    let calls = 0;
    for (const [r] of pipes) {
      ctx.setFdHandler(r, {
        read: () => {
          calls++;
          readAvailable(r);
          ctx.setFdHandler(r, null);
          ctx.setFdHandler(extra[0], {
            read: () => {
              extraCalls++;
              readAvailable(extra[0]);
            },
          });
        },
      });
    }
    for (const [, w] of pipes) writeBytes(w);
    t.true(ctx.poll(false));
    t.is(calls, 8);
    t.is(ctx.stats.handlers, 1);
    writeBytes(extra[1]);
    t.true(ctx.poll(false));
    t.is(extraCalls, 1);
    ctx.setFdHandler(extra[0], null);
    t.is(ctx.stats.handlers, 0);
  });

  /* -------------------------------------------------------- HUP and closed */

  test(title('closing the write end (HUP) makes the read handler fire'), (t) => {
    const ctx = fresh(t);
    const [r, w] = pipe();
    t.teardown(() => closeFds(r));
    let reads = 0;
    let eof = false;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
        eof = readAvailable(r) === 0;
      },
    });
    t.false(ctx.poll(false));
    closeFds(w);
    t.true(ctx.poll(false));
    t.is(reads, 1);
    t.true(eof);
    ctx.setFdHandler(r, null);
    t.false(ctx.poll(false));
    t.is(reads, 1);
  });

  test(title('an fd closed while registered does not make the loop spin'), (t) => {
    const ctx = fresh(t);
    const [r, w] = pipe();
    let reads = 0;
    ctx.setFdHandler(r, {
      read: () => {
        reads++;
      },
    });
    drain(ctx);
    closeFds(r, w);

    for (let i = 0; i < 3; i++) t.false(ctx.poll(false), `poll(false) #${i + 1}`);

    let fired = false;
    const timer = ctx.timer('realtime', SCALE_MS, () => {
      fired = true;
    });
    const wd = watchdog(ctx, 10_000);
    timer.mod(nowMs() + 50);
    let idle = 0;
    while (!fired && !wd.fired && idle < 1000) {
      if (!ctx.poll(true)) idle++;
    }
    t.true(fired, 'the 50 ms timer ended the wait');
    t.false(wd.fired);
    t.true(idle <= 5, `poll(true) returned ${idle} times without progress before the timer (spinning?)`);
    t.true(reads <= 5, `read handler of a closed fd ran ${reads} times`);
    wd.dispose();
    timer.delete();
    try {
      ctx.setFdHandler(r, null);
    } catch {
      /* the fd is gone: refusing to touch it is fine */
    }
  });

  /* ------------------------------------------------------------- external */

  test(title('external handlers are not dispatched while external is disabled'), (t) => {
    const ctx = fresh(t);
    const [re, we] = openPipe(t);
    const [ri, wi] = openPipe(t);
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
    t.false(ctx.externalDisabled);
    ctx.disableExternal();
    t.true(ctx.externalDisabled);

    writeBytes(we);
    writeBytes(wi);
    t.true(ctx.poll(false), 'the non-external handler still runs');
    t.is(internal, 1);
    t.is(ext, 0);
    t.false(ctx.poll(false));
    t.is(ext, 0);

    ctx.enableExternal();
    t.false(ctx.externalDisabled);
    t.true(ctx.poll(false), 'data that waited is dispatched after enable');
    t.is(ext, 1);
    t.false(ctx.poll(false));
    ctx.setFdHandler(re, null);
    ctx.setFdHandler(ri, null);
  });

  // issue #13, defect 2: io_uring dispatched the fd once, then never again
  // while external handlers were paused.
  test(title('a non-external fd is dispatched for every write while external is disabled'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let n = 0;
    ctx.setFdHandler(r, {
      read: () => {
        n++;
        fs.readSync(r, Buffer.alloc(1));
      },
    });
    t.false(ctx.poll(false));
    ctx.disableExternal();
    writeBytes(w, 3);
    for (let i = 0; i < 5; i++) ctx.poll(false);
    t.is(n, 3, 'one byte per dispatch, three bytes');
    for (let i = 0; i < 20; i++) {
      writeBytes(w);
      t.true(ctx.poll(false), `write ${i} is dispatched`);
    }
    t.is(n, 23);
    ctx.enableExternal();
    t.false(ctx.poll(false));
    ctx.setFdHandler(r, null);
  });

  test(title('disableExternal is counted'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    let ext = 0;
    ctx.setFdHandler(r, {
      read: () => {
        ext++;
        readAvailable(r);
      },
      external: true,
    });
    ctx.disableExternal();
    ctx.disableExternal();
    writeBytes(w);
    t.false(ctx.poll(false));
    ctx.enableExternal();
    t.true(ctx.externalDisabled, 'still disabled once');
    t.false(ctx.poll(false));
    t.is(ext, 0);
    ctx.enableExternal();
    t.false(ctx.externalDisabled);
    t.true(ctx.poll(false));
    t.is(ext, 1);
    ctx.setFdHandler(r, null);
  });

  test(title('enableExternal throws when external is not disabled'), (t) => {
    const ctx = fresh(t);
    t.throws(() => ctx.enableExternal(), { instanceOf: Error });
    t.false(ctx.externalDisabled);
    ctx.disableExternal();
    ctx.enableExternal();
    t.throws(() => ctx.enableExternal(), { instanceOf: Error });
    t.false(ctx.externalDisabled);
    // still counts correctly afterwards
    ctx.disableExternal();
    t.true(ctx.externalDisabled);
    ctx.enableExternal();
    t.false(ctx.externalDisabled);
  });

  test(title('external event notifiers pause too'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t);
    let calls = 0;
    ctx.setEventNotifier(n, {
      read: (e) => {
        calls++;
        e.testAndClear();
      },
      external: true,
    });
    ctx.disableExternal();
    n.set();
    t.false(ctx.poll(false));
    t.is(calls, 0);
    ctx.enableExternal();
    t.true(ctx.poll(false));
    t.is(calls, 1);
    ctx.setEventNotifier(n, null);
  });

  /* -------------------------------------------------------- EventNotifier */

  test(title('EventNotifier set/testAndClear return values'), (t) => {
    const n = notifier(t);
    t.true(Number.isInteger(n.fd) && n.fd >= 0);
    t.false(n.testAndClear());
    n.set();
    t.true(n.testAndClear());
    t.false(n.testAndClear());
    n.set();
    n.set();
    n.set();
    t.true(n.testAndClear(), 'several sets are one event');
    t.false(n.testAndClear());
  });

  test(title('new EventNotifier(true) starts set, (false) and () start clear'), (t) => {
    const on = notifier(t, true);
    t.true(on.testAndClear());
    t.false(on.testAndClear());
    const off = notifier(t, false);
    t.false(off.testAndClear());
    const dflt = new EventNotifier();
    t.teardown(() => dflt.close());
    t.false(dflt.testAndClear());
    t.not(on.fd, off.fd);
  });

  test(title('event-notifier handler receives the same EventNotifier object'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t);
    const received: EventNotifier[] = [];
    ctx.setEventNotifier(n, {
      read: (e) => {
        received.push(e);
        e.testAndClear();
      },
    });
    t.false(ctx.poll(false));
    n.set();
    t.true(ctx.poll(false));
    n.set();
    t.true(ctx.poll(false));
    t.is(received.length, 2);
    t.is(received[0], n);
    t.is(received[1], n);
    ctx.setEventNotifier(n, null);
  });

  test(title('setEventNotifier(n, null) removes the handler'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t);
    let calls = 0;
    ctx.setEventNotifier(n, {
      read: (e) => {
        calls++;
        e.testAndClear();
      },
    });
    t.is(ctx.stats.handlers, 1);
    ctx.setEventNotifier(n, null);
    t.is(ctx.stats.handlers, 0);
    n.set();
    t.false(ctx.poll(false));
    t.is(calls, 0);
    t.true(n.testAndClear(), 'nobody consumed the event');
  });

  test(title('an event notifier can be removed from its own callback'), (t) => {
    const ctx = fresh(t);
    const n = notifier(t);
    let calls = 0;
    ctx.setEventNotifier(n, {
      read: (e) => {
        calls++;
        ctx.setEventNotifier(e, null);
      },
    });
    n.set();
    t.true(ctx.poll(false));
    t.false(ctx.poll(false));
    t.is(calls, 1);
    t.is(ctx.stats.handlers, 0);
  });

  test(title('stats.handlers counts user handlers only'), (t) => {
    const ctx = fresh(t);
    t.is(ctx.stats.handlers, 0, "the context's own notifier is not counted");
    const [r, w] = openPipe(t);
    const n = notifier(t);
    ctx.setFdHandler(r, { read: () => {} });
    t.is(ctx.stats.handlers, 1);
    ctx.setFdHandler(w, { write: () => {} });
    t.is(ctx.stats.handlers, 2);
    ctx.setEventNotifier(n, { read: () => {} });
    t.is(ctx.stats.handlers, 3);
    ctx.setFdHandler(r, { read: () => {}, write: () => {} });
    t.is(ctx.stats.handlers, 3, 'replacing does not add');
    ctx.setFdHandler(w, null);
    t.is(ctx.stats.handlers, 2);
    ctx.setEventNotifier(n, null);
    ctx.setFdHandler(r, null);
    t.is(ctx.stats.handlers, 0);
  });

  // issue #13, defect 1: a new GSource at the freed one's address was taken
  // for the old one, so its fds were never added to it.
  test(title('re-attaching keeps the fds: 400 detach/attach rounds, each write read'), (t) => {
    const ctx = fresh(t);
    const [r, w] = openPipe(t);
    const mc = new MainContext();
    let n = 0;
    ctx.setFdHandler(r, {
      read: () => {
        n++;
        readAvailable(r);
      },
    });
    ctx.attach(mc);
    drainMain(mc);
    // The repro as it stands: one non-blocking iteration per round.
    for (let round = 0; round < 300; round++) {
      ctx.detach();
      ctx.attach(mc);
      writeBytes(w);
      mc.iteration(false);
      t.is(n, round + 1, `round ${round}`);
      if (n !== round + 1) return;
    }
    // Blocking iterations, bounded by a watchdog (io_uring used to sleep forever).
    for (let round = 300; round < 400; round++) {
      ctx.detach();
      ctx.attach(mc);
      writeBytes(w);
      iterateUntil(mc, ctx, () => n === round + 1);
      t.is(n, round + 1);
    }
    ctx.detach();
    ctx.setFdHandler(r, null);
  });

  test(title('the same fd may be registered in two contexts'), (t) => {
    const a = fresh(t);
    const b = fresh(t);
    const [r, w] = openPipe(t);
    const calls: string[] = [];
    a.setFdHandler(r, {
      read: () => {
        calls.push('a');
      },
    });
    b.setFdHandler(r, {
      read: () => {
        calls.push('b');
      },
    });
    writeBytes(w);
    t.true(a.poll(false));
    t.true(b.poll(false));
    t.deepEqual(calls, ['a', 'b']);
    a.setFdHandler(r, null);
    t.false(a.poll(false));
    t.true(b.poll(false));
    t.deepEqual(calls, ['a', 'b', 'b']);
    b.setFdHandler(r, null);
  });
}
