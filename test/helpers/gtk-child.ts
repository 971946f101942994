/*
 * Child processes for test/gtk-exceptions.test.ts: callbacks that throw
 * while a foreign loop (GTK's, node-gtk's) dispatches them.  With no JS
 * caller of ours on the stack, what they throw must reach process
 * 'uncaughtException' (ava would count that as a failure of its own
 * process, hence a child).  Run as
 *
 *   node --import=tsx test/helpers/gtk-child.ts <scenario>
 *
 * under an X display.  Each scenario prints one line per event; the test
 * compares the lines and the exit code.
 */
import * as fs from 'node:fs';
import { AioContext, MainContext, pipe } from 'aiocontext';
import { GLib, getGtk, loopGuard, runBlocking, timerIn } from './gtk.js';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Everything the callbacks threw, to check that the handler gets the very same values. */
const thrown: unknown[] = [];
function fail(value: unknown): never {
  thrown.push(value);
  throw value;
}

function reportUncaught(): void {
  process.on('uncaughtException', (err: unknown) => {
    const what = err instanceof Error ? `Error ${err.message}` : `value ${JSON.stringify(err)}`;
    say(`uncaught ${what} same=${thrown.includes(err)}`);
  });
}

const scenarios: Record<string, () => Promise<void> | void> = {
  /* Gtk.main() dispatches a BH (twice), an fd handler and a timer that all
   * throw; each error reaches the handler and the loop goes on until a BH
   * quits it. */
  async 'gtk-main'() {
    reportUncaught();
    const Gtk = getGtk();
    const ctx = new AioContext({ name: 'throwing' });
    ctx.attach();
    const [r, w] = pipe();
    let runs = 0;
    const bh = ctx.bh(() => {
      say(`bh${++runs}`);
      if (runs === 1) {
        bh.schedule();
        fail(new Error('bh1 failed'));
      }
      if (runs === 2) {
        bh.schedule();
        fail({ code: 42 });
      }
      fs.writeSync(w, 'x');
    });
    ctx.setFdHandler(r, {
      read() {
        fs.readSync(r, Buffer.alloc(16));
        say('read');
        timerIn(ctx, 5, () => {
          say('timer');
          ctx.scheduleOneshot(() => {
            say('quit');
            Gtk.mainQuit();
          });
          fail(new Error('timer failed'));
        });
        fail(new Error('read failed'));
      },
    });
    bh.schedule();
    const guard = loopGuard(() => Gtk.mainQuit());
    await runBlocking(() => Gtk.main());
    guard.cancel();
    say(`main returned guard=${guard.fired}`);
    ctx.setFdHandler(r, null);
    fs.closeSync(r);
    fs.closeSync(w);
    bh.delete();
    ctx.close();
  },

  /* node-gtk's GLib.MainContext.iteration() is not our driver either. */
  'gtk-iteration'() {
    reportUncaught();
    const ctx = new AioContext({ name: 'throwing' });
    ctx.attach();
    const gtkDefault = GLib.MainContext.default();
    ctx.scheduleOneshot(() => {
      say('bh1');
      ctx.scheduleOneshot(() => say('bh2'));
      fail(new Error('bh1 failed'));
    });
    say(`iteration ${gtkDefault.iteration(false)}`);
    say(`iteration ${gtkDefault.iteration(false)}`);
    ctx.close();
  },

  /* A GLib.MainLoop (node-gtk) on a non-default context made by node-gtk. */
  async 'main-loop'() {
    reportUncaught();
    const gtk = new GLib.MainContext();
    const loop = new GLib.MainLoop(gtk, false);
    const ctx = new AioContext({ name: 'throwing' });
    ctx.attach(MainContext.fromGtk(gtk));
    timerIn(ctx, 5, () => {
      say('timer');
      ctx.scheduleOneshot(() => {
        say('quit');
        loop.quit();
      });
      fail(new Error('timer failed'));
    });
    const guard = loopGuard(() => loop.quit());
    await runBlocking(() => loop.run());
    guard.cancel();
    say(`run returned guard=${guard.fired}`);
    ctx.close();
  },

  /* No handler: Node's default, the process dies with the error. */
  async unhandled() {
    const Gtk = getGtk();
    const ctx = new AioContext({ name: 'throwing' });
    ctx.attach();
    ctx.scheduleOneshot(() => {
      say('bh');
      ctx.scheduleOneshot(() => say('never'));
      throw new Error('fatal from a BH under Gtk.main');
    });
    const guard = loopGuard(() => Gtk.mainQuit());
    await runBlocking(() => Gtk.main());
    say(`main returned guard=${guard.fired}`);
  },
};

const name = process.argv[2] ?? '';
const scenario = scenarios[name];
if (scenario === undefined) {
  process.stderr.write(`gtk-child: unknown scenario '${name}'\n`);
  process.exit(2);
}
await scenario();
