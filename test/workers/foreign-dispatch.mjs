/*
 * Iterates the process's default GMainContext from a worker, while a context
 * of the main thread is attached to it: GLib calls that context's GSource
 * functions on this (foreign) thread; the core refuses to run it, and
 * iteration() throws ERR_AIO_WRONG_THREAD.
 * workerData: { iterations }
 * Posts { results: (boolean | errorInfo)[] }, one per iteration(false).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MainContext } from 'aiocontext';
import { errorInfo } from './util.mjs';

const main = MainContext.default();
const results = [];
for (let i = 0; i < workerData.iterations; i++) {
  try {
    results.push(main.iteration(false));
  } catch (err) {
    results.push(errorInfo(err));
  }
}
parentPort.postMessage({ results });
