/*
 * Like bh-spin.mjs, but the pass has work left after the spinning BH (a
 * BH, a ready fd handler, or an expired timer, all with JS callbacks), so
 * that ending the pass at teardown calls their trampolines.  With
 * workerData.exit the callback calls process.exit() instead of spinning.
 * workerData: { pending: 'bh' | 'fd' | 'timer', exit }
 */
import * as fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext, SCALE_NS, pipe } from 'aiocontext';

const ctx = new AioContext({ name: 'spin-pending' });
if (workerData.pending === 'bh') {
  ctx.bh(() => {}).schedule();
} else if (workerData.pending === 'fd') {
  const [r, w] = pipe();
  ctx.setFdHandler(r, { read: () => {} });
  fs.writeSync(w, 'x');
} else {
  ctx.timer('realtime', SCALE_NS, () => {}).modNs(0);
}
const spin = ctx.bh(() => {
  if (workerData.exit) process.exit(7);
  parentPort.postMessage('spinning');
  for (;;) {
    /* until terminate() */
  }
});
spin.schedule(); // LIFO: runs first, handed back to JS
ctx.poll(true);
