/*
 * Runs `count` Workers of terminate-churn.mjs, three at a time, each
 * terminated a few ms after it started working, and prints
 * "done <count> errors <n>" once every one has exited.  Run as its own
 * process by test/worker-terminate.test.ts: a crash must not take the
 * test runner with it.  argv: count, 'load' | 'churn'.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

const count = Number(process.argv[2]);
const loadOnly = process.argv[3] === 'load';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aio-terminate-'));
const file = path.join(dir, 'data');
fs.writeFileSync(file, Buffer.alloc(65536, 7));
let started = 0;
let exited = 0;
let errors = 0;

function startOne() {
  const i = started++;
  const worker = new Worker(new URL('./terminate-churn.mjs', import.meta.url), {
    workerData: { seed: i + 1, file, loadOnly },
  });
  // load: the addon loads about 3-6 ms after "online" here (the .node file
  // and its initialisation); churn: any time in the loop.
  const delay = loadOnly ? 3 + (i % 12) / 4 : (i * 7) % 25;
  if (loadOnly) worker.on('online', () => setTimeout(() => worker.terminate(), delay));
  else worker.on('message', () => setTimeout(() => worker.terminate(), delay));
  worker.on('error', (err) => {
    errors++;
    console.error('worker error:', err);
  });
  worker.on('exit', () => {
    exited++;
    if (started < count) startOne();
    else if (exited === count) {
      fs.rmSync(dir, { recursive: true, force: true });
      console.log(`done ${count} errors ${errors}`);
    }
  });
}

for (let k = 0; k < Math.min(3, count); k++) startOne();
