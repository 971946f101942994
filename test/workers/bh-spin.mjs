/*
 * A BH whose callback never returns, run by poll(): the addon handed it
 * back to JS (native/addon/poll-driver.h), so the worker is terminated in
 * the middle of a poll() pass.  Posts 'spinning' from inside the callback.
 * workerData: { nested } — with nested, the spinning BH runs in a poll()
 * nested in another handed-back BH's callback.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { AioContext } from 'aiocontext';

const ctx = new AioContext({ name: 'spin' });
const spin = ctx.bh(() => {
  parentPort.postMessage('spinning');
  for (;;) {
    /* until terminate() */
  }
});
if (workerData.nested) {
  const outer = ctx.bh(() => {
    spin.schedule();
    ctx.poll(false);
  });
  outer.schedule();
} else {
  spin.schedule();
}
ctx.poll(false);
