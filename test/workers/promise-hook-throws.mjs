/*
 * A BH callback returns a promise whose then() throws, so the rejection
 * hook fails; a later BH of the same pass throws.  As when C calls the
 * callback, the hook's failure goes to 'uncaughtException' and poll()
 * throws the later BH's error.  Run as a child process (ava counts any
 * uncaught exception as a failure).  Prints one JSON line.
 */
import { AioContext } from 'aiocontext';

class OddPromise extends Promise {
  then() {
    throw new Error('then() threw');
  }
}
const uncaught = [];
process.on('uncaughtException', (err) => uncaught.push(err.message));
const ctx = new AioContext({ name: 'odd-promise' });
const ran = [];
const b2 = ctx.bh(() => {
  ran.push('b2');
  throw new Error('b2 threw');
});
const b1 = ctx.bh(() => {
  ran.push('b1');
  return new OddPromise(() => {});
});
b2.schedule();
b1.schedule(); // b1 first (LIFO)
let thrown;
try {
  ctx.poll(false);
} catch (err) {
  thrown = err.message;
}
setImmediate(() => {
  b1.delete();
  b2.delete();
  ctx.close();
  console.log(JSON.stringify({ thrown, ran, uncaught }));
});
