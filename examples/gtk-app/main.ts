/*
 * examples/gtk-app — a small GTK 3 window (node-gtk) whose content is fed by
 * an AioContext living inside GTK's main loop:
 *
 *   - a child process (`node -e`, ticking like ping) writes lines into a
 *     pipe; an aiocontext fd handler reads them and appends them to a
 *     Gtk.TextView;
 *   - an aiocontext timer updates a clock label twice a second;
 *   - the AioContext is attached to GLib's default GMainContext, so
 *     Gtk.main() runs its bottom halves, fd handlers and timers along with
 *     GTK's own event sources.  No Node timer or stream is involved.
 *
 * Run:  npm run demo:gtk [-- --exit-after <seconds>] [-- --screenshot <file.png>]
 *       (under xvfb-run when there is no DISPLAY; the window is then
 *       invisible, but the lines it shows are also printed on stdout)
 *
 *   --exit-after <s>     quit after s seconds (the test uses 2)
 *   --screenshot <file>  just before quitting, save the window as a PNG
 *                        (GTK draws it: gdk_pixbuf_get_from_window)
 *   --lines-every <ms>   how often the child prints a line (default 200)
 *
 * Every event is printed as one line: `pipe: ...`, `clock: ...`, and a
 * final `exit: ...` summary, so the program can be tested without looking.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import gi from 'node-gtk';
import { AioContext, MainContext, SCALE_MS, clockNs, pipe } from 'aiocontext';

/* ---- options ------------------------------------------------------------- */

interface Options {
  exitAfter: number | null;
  screenshot: string | null;
  linesEvery: number;
}

function parseOptions(argv: string[]): Options {
  const opts: Options = { exitAfter: null, screenshot: null, linesEvery: 200 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    if (arg === '--exit-after') {
      opts.exitAfter = Number(value());
      if (!(opts.exitAfter > 0)) usage('--exit-after takes a positive number of seconds');
    } else if (arg === '--screenshot') {
      opts.screenshot = path.resolve(value());
    } else if (arg === '--lines-every') {
      opts.linesEvery = Number(value());
      if (!(opts.linesEvery >= 10)) usage('--lines-every takes at least 10 (ms)');
    } else {
      usage(`unknown option ${arg}`);
    }
  }
  return opts;
}

function usage(problem: string): never {
  process.stderr.write(
    `gtk-app: ${problem}\nusage: main.ts [--exit-after <seconds>] [--screenshot <file.png>] [--lines-every <ms>]\n`,
  );
  process.exit(2);
}

const opts = parseOptions(process.argv.slice(2));
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/* ---- GTK ----------------------------------------------------------------- */

if (!process.env.DISPLAY) {
  process.stderr.write('gtk-app: no DISPLAY; run it with `npm run demo:gtk` (which starts Xvfb) or under xvfb-run -a\n');
  process.exit(1);
}
const GLib = gi.require('GLib', '2.0');
const Gtk = gi.require('Gtk', '3.0');
const Gdk = gi.require('Gdk', '3.0');
Gtk.init(null);

const window = new Gtk.Window({ title: 'aiocontext inside GTK', borderWidth: 12 });
window.setDefaultSize(560, 380);
window.on('destroy', () => quit('window closed'));

const box = new Gtk.Box({ orientation: Gtk.Orientation.VERTICAL, spacing: 8 });
const clock = new Gtk.Label({ label: '--:--:--' });
const status = new Gtk.Label({ label: 'starting…' });
status.setXalign(0);
const heading = new Gtk.Label({ label: '' });
heading.setXalign(0);
const view = new Gtk.TextView();
view.setEditable(false);
view.setMonospace(true);
view.setCursorVisible(false);
const scroller = new Gtk.ScrolledWindow({ vexpand: true });
scroller.setMinContentHeight(220);
scroller.add(view);
box.packStart(clock, false, false, 0);
box.packStart(heading, false, false, 0);
box.packStart(scroller, true, true, 0);
box.packStart(status, false, false, 0);
window.add(box);
const buffer = view.getBuffer();

/* ---- the AioContext ------------------------------------------------------ */

const ctx = new AioContext({ name: 'gtk-app' });
const sourceId = ctx.attach(MainContext.default());
// node-gtk sees our GSource on the default context, by id and name:
const gsourceName = GLib.MainContext.default().findSourceById(sourceId)?.getName() ?? '?';
heading.setMarkup(
  `<b>child output</b>, read by an aiocontext fd handler ` +
    `(GSource <tt>${gsourceName}</tt> #${sourceId} in Gtk.main)`,
);
say(`gtk-app: GSource '${gsourceName}' #${sourceId} attached to the default GMainContext`);

let ticks = 0;
let lines = 0;
let reads = 0;
let eof = false;

function updateStatus(): void {
  status.setText(`${lines} lines in ${reads} fd reads · ${ticks} clock ticks · pid ${process.pid}`);
}

/* A child that ticks like ping, writing into our pipe. */
const [readFd, writeFd] = pipe();
const childScript = `
  let seq = 0;
  const t0 = Date.now();
  setInterval(() => {
    seq++;
    const ms = Date.now() - t0;
    process.stdout.write('child ' + process.pid + ': seq=' + seq + ' time=' + ms + ' ms\\n');
  }, ${opts.linesEvery});
`;
const child = spawn(process.execPath, ['-e', childScript], { stdio: ['ignore', writeFd, 'inherit'] });
fs.closeSync(writeFd); // the child holds it; EOF when it exits

let partial = '';
const chunk = Buffer.alloc(64 * 1024);
ctx.setFdHandler(readFd, {
  read() {
    let n: number;
    try {
      n = fs.readSync(readFd, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
      throw err;
    }
    reads++;
    if (n === 0) {
      eof = true;
      ctx.setFdHandler(readFd, null);
      say('pipe: EOF');
      return;
    }
    partial += chunk.toString('utf8', 0, n);
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete) {
      lines++;
      say(`pipe: ${line}`);
      buffer.insert(buffer.getEndIter(), `${line}\n`, -1);
    }
    if (buffer.getLineCount() > 500) buffer.setText('', -1);
    buffer.placeCursor(buffer.getEndIter());
    view.scrollToMark(buffer.getInsert(), 0, false, 0, 1);
    updateStatus();
  },
});

/* A clock, on an aiocontext timer re-armed every 500 ms (QEMU_CLOCK_REALTIME). */
const TICK_MS = 500;
const nowMs = (): number => Math.ceil(clockNs('realtime') / SCALE_MS);
const clockTimer = ctx.timer('realtime', SCALE_MS, () => {
  ticks++;
  const text = new Date().toTimeString().slice(0, 8);
  clock.setMarkup(`<span font_desc="monospace bold 28">${text}</span>`);
  say(`clock: tick ${ticks} ${text}`);
  updateStatus();
  clockTimer.mod(nowMs() + TICK_MS);
});
clockTimer.mod(nowMs());

/* --exit-after: also an aiocontext timer. */
const exitTimer =
  opts.exitAfter === null
    ? null
    : ctx.timer('realtime', SCALE_MS, () => quit(`--exit-after ${opts.exitAfter}`));
exitTimer?.mod(nowMs() + Math.round((opts.exitAfter ?? 0) * 1000));

/* ---- screenshot and shutdown --------------------------------------------- */

function screenshot(file: string): void {
  const gdkWindow = window.getWindow();
  if (gdkWindow === null) throw new Error('the window is not realized');
  const pixbuf = Gdk.pixbufGetFromWindow(gdkWindow, 0, 0, gdkWindow.getWidth(), gdkWindow.getHeight());
  if (pixbuf === null) throw new Error('gdk_pixbuf_get_from_window failed');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  pixbuf.savev(file, 'png', [], []);
  say(`screenshot: ${file} ${pixbuf.getWidth()}x${pixbuf.getHeight()}`);
}

let quitting = false;
function quit(why: string): void {
  if (quitting) return;
  quitting = true;
  if (opts.screenshot !== null) {
    try {
      screenshot(opts.screenshot);
    } catch (err) {
      process.stderr.write(`gtk-app: screenshot failed: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
  say(`exit: ${why}; ${lines} lines in ${reads} fd reads, ${ticks} clock ticks, eof=${eof}`);
  child.kill();
  clockTimer.delete();
  exitTimer?.delete();
  if (!eof) ctx.setFdHandler(readFd, null);
  fs.closeSync(readFd);
  ctx.close();
  if (Gtk.mainLevel() > 0) Gtk.mainQuit();
}
process.on('SIGINT', () => quit('SIGINT'));
process.on('SIGTERM', () => quit('SIGTERM'));

window.showAll();
updateStatus();
// Under ES modules node-gtk starts the loop from a Node timer and returns at
// once; our sources run either way, since they live in GLib's context.
Gtk.main();
