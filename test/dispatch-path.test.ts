/*
 * The JS dispatch path (native/addon/callback.cc): what the fast path must
 * keep.  A driver's own HandleScope serves only the first callbacks of a
 * pass (CoreCallScope): a long pass still runs every callback, in order,
 * and routes what they throw; with no JS on the stack (Node's loop drives
 * the context) microtasks queued by a callback run before the next one.
 */
import test from 'ava';
import { AioContext, BottomHalf } from 'aiocontext';
import { drain, openContext } from './helpers/loop.js';

/** More than the driver scope's budget (kDriverScopeBudget = 256). */
const MANY = 1000;

test('dispatch: one pass of 1000 BHs runs each once, LIFO, and the throws past the first 256 are routed', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const ran: number[] = [];
  const bhs: BottomHalf[] = [];
  for (let i = 0; i < MANY; i++) {
    bhs.push(
      ctx.bh(() => {
        ran.push(i);
        // Handles of every kind: an object, a string, a closure.
        const o = { i, s: `bh-${i}`, f: () => i };
        if (o.f() !== i) throw new Error('corrupted handle');
        if (i === 100) throw new Error('bh 100'); // the 900th to run: past the budget
      }),
    );
  }
  for (const bh of bhs) bh.schedule();
  const err = t.throws(() => ctx.poll(false));
  t.is(err?.message, 'bh 100');
  t.is(ran.length, MANY);
  t.deepEqual(ran, [...Array(MANY).keys()].reverse());
  t.false(ctx.poll(false));
  for (const bh of bhs) bh.delete();
});

test('dispatch: several throws of one long pass make one AggregateError in pass order', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const bhs: BottomHalf[] = [];
  for (let i = 0; i < MANY; i++) {
    bhs.push(
      ctx.bh(() => {
        if (i % 250 === 0) throw new Error(`bh ${i}`);
      }),
    );
  }
  for (const bh of bhs) bh.schedule();
  const err = t.throws(() => ctx.poll(false)) as unknown as AggregateError;
  t.true(err instanceof AggregateError);
  t.deepEqual(
    err.errors.map((e: Error) => e.message),
    ['bh 750', 'bh 500', 'bh 250', 'bh 0'],
  );
  for (const bh of bhs) bh.delete();
});

test('dispatch: a nested poll() inside a long pass has a budget of its own and the outer pass goes on', (t) => {
  const ctx = openContext(t);
  drain(ctx);
  const ran: string[] = [];
  const inner: BottomHalf[] = [];
  for (let i = 0; i < 300; i++) inner.push(ctx.bh(() => ran.push(`inner${i}`)));
  const outer: BottomHalf[] = [];
  for (let i = 0; i < 300; i++) {
    outer.push(
      ctx.bh(() => {
        ran.push(`outer${i}`);
        if (i === 150) {
          for (const bh of inner) bh.schedule();
          // Runs the rest of this slice, then the new BHs (SEMANTICS.md §2).
          while (ctx.poll(false)) {
            /* drain */
          }
        }
      }),
    );
  }
  for (const bh of outer) bh.schedule();
  t.true(ctx.poll(false));
  t.is(ran.length, 600);
  t.is(new Set(ran).size, 600);
  // LIFO: outer299 .. outer150 ran first, then the nested calls ran the rest.
  t.is(ran[0], 'outer299');
  t.is(ran[149], 'outer150');
  for (const bh of [...inner, ...outer]) bh.delete();
});

test('dispatch: with no JS on the stack (Node loop), microtasks of a callback run before the next callback', async (t) => {
  const ctx = new AioContext({ name: 'dispatch-microtasks' });
  t.teardown(() => ctx.close());
  const order: string[] = [];
  const a = ctx.bh(() => {
    order.push('a');
    queueMicrotask(() => order.push('a: microtask'));
    void Promise.resolve().then(() => order.push('a: then'));
  });
  const b = ctx.bh(() => {
    order.push('b');
    queueMicrotask(() => order.push('b: microtask'));
  });
  const handle = ctx.attachToNodeLoop();
  t.teardown(() => handle.detach());
  const done = new Promise<void>((resolve) => {
    const c = ctx.bh(() => {
      order.push('c');
      c.delete();
      resolve();
    });
    // One pass: LIFO, so b runs first, then a, then c.
    c.schedule();
    a.schedule();
    b.schedule();
  });
  await done;
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(order, ['b', 'b: microtask', 'a', 'a: microtask', 'a: then', 'c']);
  a.delete();
  b.delete();
});
