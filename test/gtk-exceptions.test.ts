/*
 * A callback that throws while a foreign loop dispatches it (Gtk.main(),
 * node-gtk's GLib.MainLoop.run() or GLib.MainContext.iteration()): no JS
 * caller of ours is on the stack, so the binding (native/addon/callback.cc)
 * hands the original value to process 'uncaughtException', and the loop
 * keeps running.  With no handler, Node's default applies: the process
 * prints the error and exits with code 1.  Each case runs in a child
 * (test/helpers/gtk-child.ts) because ava fails a test file on any uncaught
 * exception in its own process.  The children need an X display:
 * $DISPLAY, or a private Xvfb (helpers/display.ts).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDisplay } from './helpers/display.js';

const CHILD = fileURLToPath(new URL('./helpers/gtk-child.ts', import.meta.url));

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/** Runs a scenario of gtk-child.ts; kills it after @killMs (a hang then shows as SIGKILL). */
function runChild(scenario: string, killMs = 20_000): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', CHILD, scenario], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, lines: stdout.split('\n').filter((l) => l !== ''), stderr });
    });
  });
}

test.before(async () => {
  await ensureDisplay(); // $DISPLAY, or a private Xvfb; the children inherit it
});

test('Gtk.main(): a throwing BH, fd handler and timer each reach uncaughtException with the thrown value; the loop goes on', async (t) => {
  const r = await runChild('gtk-main');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.lines, [
    'bh1',
    'uncaught Error bh1 failed same=true',
    'bh2',
    'uncaught value {"code":42} same=true',
    'bh3',
    'read',
    'uncaught Error read failed same=true',
    'timer',
    'uncaught Error timer failed same=true',
    'quit',
    'main returned guard=false',
  ]);
});

test("node-gtk's GLib.MainContext.iteration(): the error reaches uncaughtException, iteration() returns true, the next BH runs", async (t) => {
  const r = await runChild('gtk-iteration');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.lines, ['bh1', 'uncaught Error bh1 failed same=true', 'iteration true', 'bh2', 'iteration true']);
});

test("node-gtk's GLib.MainLoop.run() on a node-gtk context: a throwing timer reaches uncaughtException; our BH then quits the loop", async (t) => {
  const r = await runChild('main-loop');
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.lines, ['timer', 'uncaught Error timer failed same=true', 'quit', 'run returned guard=false']);
});

test('with no uncaughtException handler, an error thrown under Gtk.main() ends the process as in plain Node (exit 1, error on stderr)', async (t) => {
  const r = await runChild('unhandled');
  t.is(r.code, 1);
  t.is(r.signal, null);
  t.deepEqual(r.lines, ['bh']);
  t.regex(r.stderr, /Error: fatal from a BH under Gtk\.main/);
});
