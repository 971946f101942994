/*
 * Child processes for test/node-loop.test.ts: what only a whole process can
 * show (when it exits, what reaches 'uncaughtException', how often an idle
 * loop wakes up).  Run as
 *
 *   node --import=tsx test/helpers/node-loop-child.ts <scenario>
 *
 * Each scenario prints one line per event it observes; the test compares
 * the lines (and the exit code).  A scenario never relies on a timeout of
 * its own to end: if liveness is wrong the test's kill timer fires.
 */
import * as fs from 'node:fs';
import { AioContext, MainContext, SCALE_MS, clockNs, pipe } from 'aiocontext';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const nowMs = (): number => clockNs('realtime') / SCALE_MS;
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A SCALE_MS realtime timer on @ctx, armed @ms from now. */
function timerIn(ctx: AioContext, ms: number, cb: () => void) {
  const t = ctx.timer('realtime', SCALE_MS, cb);
  t.mod(Math.ceil(nowMs()) + ms);
  return t;
}

/* Waits until the process is quiet: start-up work of its own (tsx writes
 * its compile cache in the background, for one) is over when a 100 ms
 * window sees at most the one wake-up that ends it. */
async function settle(handle: { readonly stats: { wakeups: number } }): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const w0 = handle.stats.wakeups;
    await wait(100);
    if (handle.stats.wakeups - w0 <= 1) return;
  }
}

/* Wake-ups in a 1 s window whose only timer is ours: the best of up to
 * three windows, so that a stray wake-up of V8's own (a background compile
 * finishing, a GC task) does not count; a wake-up source of ours would show
 * in every window.  Returns "<best> [<each window>]". */
async function measure(handle: { readonly stats: { wakeups: number } }): Promise<string> {
  const windows: number[] = [];
  for (let i = 0; i < 3; i++) {
    const w0 = handle.stats.wakeups;
    await wait(1000);
    windows.push(handle.stats.wakeups - w0);
    if (windows[i]! <= 1) break;
  }
  return `${Math.min(...windows)} [${windows.join(',')}]`;
}

const scenarios: Record<string, () => void | Promise<void>> = {
  /* Loop wake-ups over 1 s, measured by the bridge: first with nothing
   * scheduled, then with an fd handler on an idle pipe and a timer an hour
   * away.  Only the test's own setTimeout may wake the loop. */
  async idle() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    handle.unref();
    await settle(handle);
    say(`idle-empty ${await measure(handle)}`);

    const [r, w] = pipe();
    ctx.setFdHandler(r, { read: () => say('unexpected read') });
    const far = timerIn(ctx, 3_600_000, () => say('unexpected timer'));
    await settle(handle);
    say(`idle-armed ${await measure(handle)} fds ${handle.stats.fds}`);
    far.delete();
    ctx.setFdHandler(r, null);
    fs.closeSync(r);
    fs.closeSync(w);
    ctx.close();
  },

  /* unref'd, with a timer an hour away: the process exits at once. */
  'exit-unref'() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    timerIn(ctx, 3_600_000, () => say('unexpected timer'));
    handle.unref();
    say(`keepingAlive ${handle.stats.keepingAlive}`);
    process.on('exit', () => say('exit'));
  },

  /* ref'd (the default) with nothing armed: exits at once too. */
  'exit-idle'() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    say(`keepingAlive ${handle.stats.keepingAlive}`);
    process.on('exit', () => say('exit'));
  },

  /* ref'd with a timer: alive until it fires, then exits (the timer does
   * not re-arm, so nothing is left). */
  'ref-timer'() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    const start = nowMs();
    timerIn(ctx, 300, () => say(`timer fired after ${Math.round(nowMs() - start) >= 300 ? '>=300' : '<300'} ms`));
    say(`keepingAlive ${handle.stats.keepingAlive}`);
    process.on('exit', () => say('exit'));
  },

  /* A BH scheduled from a setTimeout callback (the end of a libuv
   * iteration) must still run: schedule() re-decides liveness at once. */
  'bh-from-timeout'() {
    const ctx = new AioContext();
    ctx.attachToNodeLoop();
    setTimeout(() => {
      const bh = ctx.bh(() => {
        say('bh ran');
        bh.delete();
      });
      bh.schedule();
    }, 50);
    process.on('exit', () => say('exit'));
  },

  /* A ref'd MainContext keeps the process alive until detached; an
   * unref'd one does not. */
  'main-ref'() {
    const mc = new MainContext();
    const handle = mc.attachToNodeLoop();
    say(`keepingAlive ${handle.stats.keepingAlive}`);
    // Nothing else keeps the process alive: only our handle can.
    const ctx = new AioContext();
    ctx.attach(mc);
    const t = timerIn(ctx, 200, () => {
      say('timer ran');
      t.delete();
      ctx.close();
      handle.detach();
    });
    process.on('exit', () => say('exit'));
  },
  'main-unref'() {
    const mc = new MainContext();
    const handle = mc.attachToNodeLoop();
    handle.unref();
    say(`keepingAlive ${handle.stats.keepingAlive}`);
    process.on('exit', () => say('exit'));
  },

  /* Throws from a BH, a timer and an fd handler reach 'uncaughtException';
   * the loop goes on. */
  uncaught() {
    process.on('uncaughtException', (err) => say(`caught ${err.message}`));
    const ctx = new AioContext();
    ctx.attachToNodeLoop();
    const bh = ctx.bh(() => {
      bh.delete();
      throw new Error('from bh');
    });
    bh.schedule();
    const [r, w] = pipe();
    ctx.setFdHandler(r, {
      read() {
        ctx.setFdHandler(r, null);
        throw new Error('from fd');
      },
    });
    fs.writeSync(w, 'x');
    const t = timerIn(ctx, 50, () => {
      t.delete();
      setTimeout(() => {
        say('loop still runs');
        fs.closeSync(r);
        fs.closeSync(w);
        ctx.close();
      }, 10);
      throw new Error('from timer');
    });
  },

  /* No handler: the process dies the way Node dies of an uncaught error. */
  'uncaught-fatal'() {
    const ctx = new AioContext();
    ctx.attachToNodeLoop();
    ctx.scheduleOneshot(() => {
      throw new Error('fatal from bh');
    });
    process.on('exit', (code) => say(`exit ${code}`));
  },

  /* An epoll context under Node's loop refuses a regular file and falls
   * back to poll from inside that setFdHandler() call.  libuv watches the
   * epoll fd until the next loop turn, so its number must not be closed
   * (and reused by the next fd the program opens) before then: a socket
   * opened on the reused number failed with EEXIST, or its events went to
   * the stale watch.  Opens pipes until one gets the epoll fd's number (or
   * a higher one), then reads through a net.Socket on it. */
  async 'epoll-fallback-fd-reuse'() {
    const net = await import('node:net');
    const os = await import('node:os');
    const epollFds = (): Set<number> => {
      const found = new Set<number>();
      for (const name of fs.readdirSync('/proc/self/fd')) {
        try {
          if (fs.readlinkSync(`/proc/self/fd/${name}`) === 'anon_inode:[eventpoll]') found.add(Number(name));
        } catch {
          /* the directory's own fd, gone already */
        }
      }
      return found;
    };
    const before = epollFds();
    const ctx = new AioContext({ fdmon: 'epoll' });
    const ours = [...epollFds()].filter((fd) => !before.has(fd));
    const epollFd = ours[0] ?? -1;
    const handle = ctx.attachToNodeLoop();
    await wait(20); // libuv watches the epoll fd now
    const path = `${os.tmpdir()}/aiocontext-fallback-${process.pid}`;
    const file = fs.openSync(path, 'w+');
    fs.unlinkSync(path);
    // Fill every free number below the epoll fd's, so that if it is closed
    // the next fd the program opens gets exactly that number.
    const fillers: number[] = [];
    for (let fd = fs.openSync('/dev/null', 'r'); ; fd = fs.openSync('/dev/null', 'r')) {
      if (fd > epollFd) {
        fs.closeSync(fd);
        break;
      }
      fillers.push(fd);
    }
    ctx.setFdHandler(file, { read: () => ctx.setFdHandler(file, null) });
    say(`fdmon ${ctx.stats.fdmon} epoll fds ${ours.length}`);
    const [r, w] = pipe(); // r is the epoll fd's old number if it was closed
    for (const fd of fillers) fs.closeSync(fd);
    const sock = new net.Socket({ fd: r, readable: true, writable: false });
    sock.on('data', (d) => {
      say(`data ${String(d)}`);
      sock.destroy();
      handle.detach();
      ctx.close();
      fs.closeSync(w);
      fs.closeSync(file);
    });
    fs.writeSync(w, 'hello');
  },

  /* A context attached to a MainContext that Node's loop drives is closed:
   * its own fds (eventfd, epoll fd, io_uring ring) close with it, while
   * libuv watched them until the next loop turn; the next fds the program
   * opens get those numbers, and sockets on them must work. */
  async 'close-attached-fd-reuse'() {
    const net = await import('node:net');
    const fdmon = process.argv[3] as 'poll' | 'epoll' | 'io_uring';
    const open = (): Set<number> => new Set(fs.readdirSync('/proc/self/fd').map(Number));
    const mc = new MainContext();
    const handle = mc.attachToNodeLoop();
    const before = open();
    const ctx = new AioContext({ fdmon });
    const own = [...open()].filter((fd) => !before.has(fd));
    const top = Math.max(...own);
    ctx.attach(mc);
    await wait(20); // libuv watches the context's fds now
    const fillers: number[] = []; // every free number below them, taken
    for (let fd = fs.openSync('/dev/null', 'r'); ; fd = fs.openSync('/dev/null', 'r')) {
      if (fd > top) {
        fs.closeSync(fd);
        break;
      }
      fillers.push(fd);
    }
    ctx.close();
    const pipes = own.map(() => pipe()); // they get the context's numbers
    for (const fd of fillers) fs.closeSync(fd);
    let got = 0;
    for (const [r, w] of pipes) {
      const sock = new net.Socket({ fd: r, readable: true, writable: false });
      sock.on('data', () => {
        sock.destroy();
        fs.closeSync(w);
        if (++got === pipes.length) {
          say(`data on ${got} sockets`);
          handle.detach();
        }
      });
      fs.writeSync(w, 'x');
    }
  },

  /* Attached and still running when the process ends: the env cleanup hook
   * closes the libuv handles (no crash, no hang). */
  'exit-attached'() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    const [r, w] = pipe();
    ctx.setFdHandler(r, { read: () => fs.readSync(r, Buffer.alloc(16)) });
    handle.unref();
    new MainContext().attachToNodeLoop().unref();
    fs.writeSync(w, 'x');
    setTimeout(() => say('done'), 20);
  },

  /* Worker threads with their own attached contexts: one ends on its own
   * while still attached, one is terminated with a ref'd armed timer.  Node
   * closes a worker's libuv loop and aborts if handles are left open, so
   * this passes only if the env cleanup hook closes ours. */
  async worker() {
    const { Worker } = await import('node:worker_threads');
    const { createRequire } = await import('node:module');
    const entry = createRequire(import.meta.url).resolve('aiocontext');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { AioContext, MainContext, SCALE_MS, clockNs } = require(workerData.entry);
      const ctx = new AioContext();
      const handle = ctx.attachToNodeLoop();
      new MainContext().attachToNodeLoop().unref();
      const t = ctx.timer('realtime', SCALE_MS, () => {});
      t.mod(Math.ceil(clockNs('realtime') / SCALE_MS) + 3_600_000);
      ctx.scheduleOneshot(() => {
        parentPort.postMessage('ran ' + handle.stats.keepingAlive);
        if (workerData.mode === 'ends') { handle.unref(); }
      });`;
    for (const mode of ['ends', 'terminated']) {
      const worker = new Worker(code, { eval: true, workerData: { entry, mode } });
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      const ran = await new Promise((resolve) => worker.once('message', resolve));
      if (mode === 'terminated') await worker.terminate();
      const exit = await exited;
      say(`${mode}: ${String(ran)}, exit ${String(exit)}`);
    }
  },
};

const name = process.argv[2] ?? '';
const scenario = scenarios[name];
if (scenario === undefined) {
  process.stderr.write(`unknown scenario '${name}'\n`);
  process.exit(2);
}
void scenario();
