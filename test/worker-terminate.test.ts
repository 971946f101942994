/*
 * Worker.terminate() in the middle of a native call: Node-API calls then
 * fail with no exception pending, and the addon must neither touch what
 * failed to be made nor let node-addon-api turn its failed throw into a
 * fatal error (binding.gyp: NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS).
 * Each case runs in its own process (test/workers/terminate-driver.mjs),
 * so a crash shows as an exit code, not as a dead test runner.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DRIVER = fileURLToPath(new URL('./workers/terminate-driver.mjs', import.meta.url));

function runDriver(count: number, mode: 'load' | 'churn'): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DRIVER, String(count), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

test('worker-terminate: Workers terminated while they load the addon leave the process running', async (t) => {
  const r = await runDriver(200, 'load');
  t.is(r.signal, null, r.err.slice(0, 2000));
  t.is(r.code, 0, r.err.slice(0, 2000));
  t.is(r.out.trim(), 'done 200 errors 0');
});

test('worker-terminate: Workers terminated in the middle of BHs, timers, fd handlers, GLib iterations and file reads leave the process running', async (t) => {
  const r = await runDriver(150, 'churn');
  t.is(r.signal, null, r.err.slice(0, 2000));
  t.is(r.code, 0, r.err.slice(0, 2000));
  t.is(r.out.trim(), 'done 150 errors 0');
});
