/*
 * pingpong-worker.mjs — the echo side of bench/pingpong.ts, in a
 * worker_threads Worker (plain JS: tsx does not reach workers).
 *
 * workerData: { readFd, writeFd, fdmon, maxNs, stop }.  An AioContext of its
 * own, driven by poll(true), echoes every byte read on readFd to writeFd.
 * With maxNs > 0 the handler also has a poll hook that tries the read
 * without blocking (busy polling).  It stops when `stop[0]` is set and a
 * byte wakes it, closes its context and posts 'done'.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const { AioContext } = require('aiocontext');
// The helper addon (native/testing/), for its raw fd I/O that never throws.
const native = require('../build/Release/aiocontext_testing.node');

const { readFd, writeFd, fdmon, maxNs, stop } = workerData;
const ctx = new AioContext({ name: 'pingpong-echo', fdmon, poll: { maxNs } });
let done = false;

/* Echoes what is there; returns whether there was anything. */
function echo() {
  const n = native.tryRead(readFd);
  if (n <= 0) return false;
  if (Atomics.load(stop, 0) !== 0) {
    done = true;
    return true;
  }
  native.writeBytes(writeFd, n);
  return true;
}

ctx.setFdHandler(readFd, maxNs > 0 ? { read: echo, poll: echo } : { read: echo });
parentPort.postMessage('ready');
while (!done) ctx.poll(true);
ctx.setFdHandler(readFd, null);
ctx.close();
parentPort.postMessage('done');
