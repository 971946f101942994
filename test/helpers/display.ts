/*
 * An X display for the GTK tests (test/gtk-*.test.ts), without a wrapper:
 * ensureDisplay() uses $DISPLAY if set (e.g. under `xvfb-run -a`), else
 * starts a private Xvfb for this test process, so plain `ava` and
 * `npm run test:ava` need nothing else.  Child processes inherit DISPLAY.
 * No node-gtk here: the files that only spawn GTK children import this.
 */
import { spawn } from 'node:child_process';

let display: Promise<string> | undefined;

/**
 * Makes sure process.env.DISPLAY names an X server: the one already set, or
 * a private Xvfb (its number chosen by Xvfb itself, -displayfd) that dies
 * with this process, even if the process is killed: a shell started along
 * with it kills it once our pid is gone.  Resolves with the DISPLAY.
 */
export function ensureDisplay(): Promise<string> {
  display ??= startDisplay();
  return display;
}

function startDisplay(): Promise<string> {
  const existing = process.env.DISPLAY;
  if (existing) return Promise.resolve(existing);
  const script =
    'Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset >/dev/null 2>&1 & x=$!; ' +
    'trap \'kill $x 2>/dev/null\' EXIT; trap \'exit 0\' TERM INT; ' +
    'while kill -0 "$1" 2>/dev/null && kill -0 $x 2>/dev/null; do sleep 0.5; done';
  return new Promise<string>((resolve, reject) => {
    const sh = spawn('sh', ['-c', script, 'xvfb-guard', String(process.pid)], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    });
    const fd3 = sh.stdio[3] as NodeJS.ReadableStream & { destroy(): void };
    let out = '';
    const fail = (why: string): void => reject(new Error(`cannot start Xvfb for the GTK tests: ${why}`));
    sh.on('error', (err) => fail(err.message));
    sh.on('exit', (code) => fail(`it exited (code ${code}); is the xvfb package installed? (npm run setup)`));
    fd3.setEncoding('utf8');
    fd3.on('data', (chunk: string) => {
      out += chunk;
      const m = /^(\d+)\n/.exec(out);
      if (!m) return;
      fd3.destroy();
      sh.removeAllListeners('exit');
      sh.unref();
      process.on('exit', () => sh.kill('SIGTERM'));
      process.env.DISPLAY = `:${m[1]}`;
      resolve(process.env.DISPLAY);
    });
  });
}
