/*
 * examples/gtk-app (`npm run demo:gtk`), run for 2 s under the test's X
 * display: the lines a child writes into a pipe reach the window through an
 * aiocontext fd handler, an aiocontext timer ticks the clock, another quits
 * the GTK main loop, and --screenshot saves the window as a PNG.  Needs an
 * X display: $DISPLAY, or a private Xvfb (helpers/display.ts).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDisplay } from './helpers/display.js';

const APP = fileURLToPath(new URL('../examples/gtk-app/main.ts', import.meta.url));

function run(args: string[], killMs = 30_000): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', APP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), killMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, lines: stdout.split('\n').filter((l) => l !== ''), stderr });
    });
  });
}

/** Width and height from a PNG's IHDR chunk; throws if @file is not a PNG. */
function pngSize(file: string): { width: number; height: number } {
  const head = fs.readFileSync(file).subarray(0, 24);
  if (head.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error(`${file} is not a PNG`);
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

test('gtk-app: pipe lines through an fd handler and clock ticks from a timer, inside Gtk.main(), for 2 s; then a screenshot and a clean exit', async (t) => {
  await ensureDisplay(); // $DISPLAY, or a private Xvfb; the app inherits it
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gtk-app-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const png = path.join(dir, 'window.png');

  const r = await run(['--exit-after', '2', '--screenshot', png]);
  t.is(r.code, 0, r.stderr);

  t.regex(r.lines[0] ?? '', /^gtk-app: GSource 'gtk-app' #\d+ attached to the default GMainContext$/);

  // The child's lines, in order, with nothing lost or repeated.
  const seqs = r.lines.flatMap((l) => {
    const m = /^pipe: child \d+: seq=(\d+) time=\d+ ms$/.exec(l);
    return m ? [Number(m[1])] : [];
  });
  t.true(seqs.length >= 2, `pipe lines: ${seqs.length}`);
  t.deepEqual(
    seqs,
    seqs.map((_, i) => i + 1),
  );

  // Clock ticks every 500 ms: tick 1 at once, about 4 in 2 s.
  const ticks = r.lines.flatMap((l) => {
    const m = /^clock: tick (\d+) \d\d:\d\d:\d\d$/.exec(l);
    return m ? [Number(m[1])] : [];
  });
  t.true(ticks.length >= 2 && ticks.length <= 6, `clock ticks: ${ticks.length}`);
  t.deepEqual(
    ticks,
    ticks.map((_, i) => i + 1),
  );

  // Screenshot, then the summary, which agrees with what was printed.
  const shot = r.lines.at(-2) ?? '';
  const m = /^screenshot: (.+) (\d+)x(\d+)$/.exec(shot);
  t.truthy(m, shot);
  t.is(m?.[1], png);
  const size = pngSize(png);
  t.deepEqual([size.width, size.height], [Number(m?.[2]), Number(m?.[3])]);
  t.true(size.width >= 300 && size.height >= 200, `${size.width}x${size.height}`);

  const summary = /^exit: --exit-after 2; (\d+) lines in (\d+) fd reads, (\d+) clock ticks, eof=false$/.exec(r.lines.at(-1) ?? '');
  t.truthy(summary, r.lines.at(-1));
  t.is(Number(summary?.[1]), seqs.length);
  t.is(Number(summary?.[3]), ticks.length);
  const reads = Number(summary?.[2]);
  t.true(reads >= 1 && reads <= seqs.length, `fd reads: ${reads}`);
});
