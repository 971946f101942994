/*
 * Child process scenarios for test/file.test.ts: what only a whole process
 * can show (Node's liveness, exit and worker teardown with requests in
 * flight).  Prints one line per event; the parent checks the lines and the
 * exit status.  Usage: node --import=tsx file-child.ts <scenario> <path>
 */
import { Worker } from 'node:worker_threads';
import { AioContext, AioFile } from 'aiocontext';
import { threadPoolJob } from './testing.js';

const [scenario, file] = process.argv.slice(2) as [string, string];

switch (scenario) {
  // Node's loop alone keeps the process alive while a file request is in
  // flight: the read waits behind a 300 ms job on the only worker.
  case 'alive': {
    const ctx = new AioContext();
    ctx.attachToNodeLoop();
    ctx.threadPool.setParams({ min: 0, max: 1 });
    const f = AioFile.open(ctx, file, { engine: 'threads' });
    threadPoolJob(ctx, 300_000, 1, () => console.log('job'));
    f.read(Buffer.alloc(4096), 0, (err, n) => {
      console.log(`read ${err?.code ?? n}`);
      f.close();
      ctx.close();
    });
    break;
  }
  // process.exit() with 1,000 reads in flight on each engine: the cleanup
  // hook waits for them without calling JS.
  case 'exit': {
    for (const engine of ['threads', 'io_uring', 'linux-aio'] as const) {
      const ctx = new AioContext();
      const f = AioFile.open(ctx, file, { engine, direct: engine === 'linux-aio' });
      for (let i = 0; i < 1000; i++) {
        f.read(AioFile.alignedBuffer(4096), (i % 16) * 4096, () => console.log('callback after exit'));
      }
    }
    console.log('exiting');
    process.exit(0);
    break;
  }
  // A Worker terminated with requests in flight.
  case 'worker': {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import('aiocontext').then(({ AioContext, AioFile }) => {
         for (const engine of ['threads', 'io_uring', 'linux-aio']) {
           const ctx = new AioContext();
           const f = AioFile.open(ctx, workerData, { engine, direct: engine === 'linux-aio' });
           for (let i = 0; i < 1000; i++) f.read(AioFile.alignedBuffer(4096), (i % 16) * 4096, () => {});
         }
         parentPort.postMessage('ready');
       });`,
      { eval: true, workerData: file },
    );
    w.on('message', async () => {
      await w.terminate();
      console.log('terminated');
    });
    break;
  }
  // A Worker terminated while an io_uring read waits on a FIFO that nobody
  // writes: the teardown cancels reads (their results go nowhere) instead
  // of waiting for them forever.
  case 'worker-fifo': {
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       import('aiocontext').then(({ AioContext, AioFile }) => {
         const ctx = new AioContext();
         const f = AioFile.open(ctx, workerData, { flags: 'r+', engine: 'io_uring' });
         f.read(Buffer.alloc(16), 0, () => {});
         ctx.poll(false);
         parentPort.postMessage(f.engine);
       });`,
      { eval: true, workerData: file },
    );
    w.on('message', async (engine) => {
      console.log(engine);
      await w.terminate();
      console.log('terminated');
    });
    break;
  }
  // Files and contexts dropped unclosed, then collected.
  case 'gc': {
    const gc = (globalThis as { gc?: () => void }).gc!;
    for (let i = 0; i < 50; i++) {
      const ctx = new AioContext();
      const f = AioFile.open(ctx, file, { engine: i % 2 ? 'io_uring' : 'threads' });
      let done = false;
      f.read(Buffer.alloc(4096), 0, () => (done = true));
      while (!done) ctx.poll(true);
    }
    gc();
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    console.log('collected');
    break;
  }
  default:
    throw new Error(`unknown scenario ${scenario}`);
}
