/*
 * RemoteContext.acquire()/release() from a worker: the context's recursive
 * lock is one lock across threads.  Steps, in state[0] (main sets the even
 * ones it waits on, see test/threads.test.ts):
 *   1  about to acquire (main holds the lock: we block)
 *   2  acquired
 *   (main sets 3) -> sleep `holdMs`, release          -> 4
 *   then: acquire twice, release twice, one release too many
 *   (main sets 5) -> acquire, set 6, sleep `holdMs`, release (main's close()
 *   waits for it), set 7, then try acquire/notify on the closed context.
 *   With `leave`, instead of the last step: acquire, set 6 and exit holding it.
 * workerData: { token, state: SharedArrayBuffer, holdMs, leave }
 * Posts { extraRelease, afterClose: { acquire, notify } } (error infos).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { remoteContext } from 'aiocontext';
import { errorInfo, signal, sleepMs, waitFor } from './util.mjs';

const { token, holdMs, leave } = workerData;
const state = new Int32Array(workerData.state);
const remote = remoteContext(token);

signal(state, 0, 1);
remote.acquire();
signal(state, 0, 2);
waitFor(state, 0, 3);
sleepMs(holdMs);
remote.release();
signal(state, 0, 4);

remote.acquire();
remote.acquire();
remote.release();
remote.release();
let extraRelease = null;
try {
  remote.release();
} catch (err) {
  extraRelease = errorInfo(err);
}

waitFor(state, 0, 5);
remote.acquire();
signal(state, 0, 6);
if (leave) {
  parentPort.postMessage({ extraRelease, left: true });
} else {
  sleepMs(holdMs);
  remote.release();
  signal(state, 0, 7);
  waitFor(state, 0, 8); // main: close() returned
  const afterClose = {};
  for (const op of ['acquire', 'notify']) {
    try {
      remote[op]();
      afterClose[op] = null;
    } catch (err) {
      afterClose[op] = errorInfo(err);
    }
  }
  parentPort.postMessage({ extraRelease, afterClose });
}
