/*
 * Uses the public API as hard as it can, in a loop, until the parent
 * terminates this worker (test/workers/terminate-driver.mjs): contexts on
 * every fd monitor, BHs, timers, fd handlers, event notifiers, GLib
 * iterations, file reads, close().  Termination lands in the middle of a
 * native call sooner or later; the process must survive it.
 * workerData: { seed, file } — file: a 64 KiB file to read.
 * With { loadOnly: true } it only loads the addon file itself, as soon as
 * it starts: termination during the addon's initialisation.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

if (workerData.loadOnly) {
  createRequire(import.meta.url)('../../build/Release/aiocontext.node');
  parentPort.postMessage('go');
} else {
  const a = await import('aiocontext');
  let seed = workerData.seed;
  const rnd = (n) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  parentPort.postMessage('go');
  const keep = [];
  for (;;) {
    const ctx = new a.AioContext({ fdmon: ['auto', 'poll', 'epoll', 'io_uring'][rnd(4)] });
    const bhs = [];
    for (let i = 0; i < 8; i++) {
      const bh = ctx.bh(() => {
        if (rnd(3)) bh.schedule();
      });
      bhs.push(bh);
      bh.schedule();
    }
    const timer = ctx.timer('realtime', a.SCALE_NS, () => {});
    timer.modNs(a.clockNs('realtime') + rnd(1000));
    const [r, w] = a.pipe();
    ctx.setFdHandler(r, {
      read: () => {
        fs.readSync(r, Buffer.alloc(64));
      },
    });
    fs.writeSync(w, 'x');
    const notifier = new a.EventNotifier();
    ctx.setEventNotifier(notifier, { read: (e) => e.testAndClear() });
    notifier.set();
    let main;
    if (rnd(2)) {
      main = new a.MainContext();
      ctx.attach(main);
      for (let i = 0; i < 20; i++) main.iteration(false);
    } else {
      for (let i = 0; i < 20; i++) ctx.poll(false);
    }
    const file = a.AioFile.open(ctx, workerData.file, { engine: ['threads', 'io_uring'][rnd(2)] });
    const buf = Buffer.alloc(4096);
    let done = 0;
    for (let i = 0; i < 4; i++) file.read(buf, i * 4096, () => done++);
    while (done < 4) ctx.poll(true);
    file.close();
    ctx.setFdHandler(r, null);
    ctx.setEventNotifier(notifier, null);
    notifier.close();
    fs.closeSync(r);
    fs.closeSync(w);
    for (const bh of bhs) bh.delete();
    timer.delete();
    if (main) ctx.detach();
    if (rnd(2)) ctx.close();
    else keep.push(ctx);
    if (keep.length > 20) for (const c of keep.splice(0, 10)) c.close();
  }
}
