/*
 * Child processes for test/api-checks.test.ts: where a rejected promise
 * returned by a callback goes when no poll()/iteration() will throw it.
 * Run as
 *
 *   node --import=tsx test/helpers/rejection-child.ts <scenario>
 *
 * Prints one line per event; 'unhandledRejection' would print "unhandled".
 */
import { AioContext } from 'aiocontext';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

process.on('unhandledRejection', (reason) => say(`unhandled ${message(reason)}`));

const scenarios: Record<string, () => void | Promise<void>> = {
  /* Node's loop runs the context: an async BH, fd-less timer and a plain
   * function returning a rejected promise all reach 'uncaughtException'. */
  foreign() {
    const ctx = new AioContext();
    const handle = ctx.attachToNodeLoop();
    let seen = 0;
    process.on('uncaughtException', (e) => {
      say(`caught ${message(e)}`);
      if (++seen === 2) {
        handle.detach();
        ctx.close();
        say('done');
      }
    });
    const bh = ctx.bh(async () => {
      bh.delete();
      throw new Error('from async bh');
    });
    bh.schedule();
    const timer = ctx.timer('realtime', 1_000_000, () => Promise.reject(new Error('from timer')));
    timer.modIn(5);
  },

  /* A driver ran the callback, but no driver is called again: the
   * rejection reaches 'uncaughtException' one macrotask turn later. */
  fallback() {
    const ctx = new AioContext();
    process.on('uncaughtException', (e) => {
      say(`caught ${message(e)}`);
      ctx.close();
    });
    ctx.scheduleOneshot(async () => {
      throw new Error('from polled bh');
    });
    say(`poll ${ctx.poll(false)}`);
  },

  /* With no 'uncaughtException' handler, a foreign-loop rejection ends the
   * process as a throw does (exit code 1). */
  fatal() {
    const ctx = new AioContext();
    ctx.attachToNodeLoop();
    ctx.scheduleOneshot(async () => {
      throw new Error('fatal from async bh');
    });
    process.on('exit', (code) => say(`exit ${code}`));
  },
};

const scenario = scenarios[process.argv[2] ?? ''];
if (scenario === undefined) throw new Error(`unknown scenario ${process.argv[2]}`);
void scenario();
