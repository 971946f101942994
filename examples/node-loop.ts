/*
 * node-loop.ts — an AioContext run by Node's own event loop.
 *
 * Nothing here calls poll() or blocks.  After attachToNodeLoop(), the
 * context's fd handler, timer and bottom halves run between Node's own
 * callbacks (a setInterval, promises), each as an ordinary Node callback.
 * The handle keeps the process alive only while the context has armed
 * work, so the program ends by itself.
 *
 *   node --import=tsx examples/node-loop.ts
 */
import * as fs from 'node:fs';
import { AioContext, SCALE_MS, pipe } from 'aiocontext';

const start = Date.now();
const log = (who: string, what: string): void => {
  console.log(`[${String(Date.now() - start).padStart(4)} ms] ${who.padEnd(13)} ${what}`);
};

const ctx = new AioContext({ name: 'example' });
const handle = ctx.attachToNodeLoop();

// 1. A pipe: Node's setInterval writes into it, the context's fd handler reads.
const [readFd, writeFd] = pipe();
const pipeDone = new Promise<void>((resolve) => {
  let received = 0;
  ctx.setFdHandler(readFd, {
    read() {
      const buf = Buffer.alloc(64);
      const n = fs.readSync(readFd, buf);
      log('aio fd', `read "${buf.toString('utf8', 0, n)}"`);
      if (++received === 3) {
        ctx.setFdHandler(readFd, null);
        resolve();
      }
    },
  });
});
let ticks = 0;
const interval = setInterval(() => {
  ticks++;
  log('node interval', `writes "tick ${ticks}"`);
  fs.writeSync(writeFd, `tick ${ticks}`);
  if (ticks === 3) clearInterval(interval);
}, 40);

// 2. A QEMU timer, every 50 ms, three times.
const timerDone = new Promise<void>((resolve) => {
  let fired = 0;
  const timer = ctx.timer('realtime', SCALE_MS, () => {
    log('aio timer', `fired (#${++fired})`);
    if (fired < 3) {
      timer.modIn(50);
    } else {
      timer.delete();
      resolve();
    }
  });
  timer.modIn(50);
});

// 3. An async function awaiting the context and Node in turn.
async function main(): Promise<void> {
  await ctx.nextBh();
  log('promise', 'after the next bottom-half pass');
  await new Promise((resolve) => setTimeout(resolve, 30));
  log('promise', 'after a Node setTimeout(30)');
  await ctx.sleepMs(100);
  log('promise', 'after ctx.sleepMs(100)');
  await Promise.all([pipeDone, timerDone]);

  const { wakeups, dispatches } = handle.stats;
  log('done', `${wakeups} loop iterations seen, ${dispatches} with callbacks to run`);
  fs.closeSync(readFd);
  fs.closeSync(writeFd);
  ctx.close(); // detaches from Node's loop first
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
