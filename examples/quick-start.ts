// The README's first example, kept runnable: node --import=tsx examples/quick-start.ts
import { AioContext, MainContext, SCALE_MS, pipe } from 'aiocontext';
import { readSync, writeSync } from 'node:fs';

using ctx = new AioContext({ name: 'disk-io' });     // close() at scope end

const bh = ctx.bh(() => console.log('bottom half'));  // aio_bh_new
bh.schedule();                                         // twice before it runs: runs once
ctx.scheduleOneshot(() => console.log('oneshot'));     // aio_bh_schedule_oneshot

const [r, w] = pipe();                                 // non-blocking, close-on-exec
ctx.setFdHandler(r, { read: () => console.log('read', readSync(r, Buffer.alloc(64)), 'bytes') });
writeSync(w, 'x');

let done = false;
const t = ctx.timer('realtime', SCALE_MS, () => { done = true; });
t.modIn(10);                                           // 10 ms from now (t.mod(): absolute, in its scale)

while (!done) ctx.poll(true);  // aio_poll: BHs, then fd handlers, then timers; sleeps in between

ctx.attach();                                          // now a GSource of the default GMainContext
bh.schedule();
MainContext.default().iteration(false);                // ... which any GLib loop (GTK's) runs too
ctx.setFdHandler(r, null); bh.delete(); t.delete();
