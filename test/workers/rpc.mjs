/*
 * A worker that makes remote calls on request, for the tests of what remote
 * calls do once the object is gone.  Each request { id, op, token?, key? } is
 * answered with { id, ok: true } or { id, error: { name, code, message } }.
 *   op 'context' / 'bh'        make a remote handle from `token`, keep it
 *                              under `key`
 *   op 'notify' / 'schedule' / 'cancel'   call it on the handle under `key`
 *   op 'notifyToken' / 'scheduleToken'    make a handle from `token` and call
 *   op 'exit'                  close the port (the worker exits)
 */
import { parentPort } from 'node:worker_threads';
import { remoteBottomHalf, remoteContext } from 'aiocontext';
import { errorInfo } from './util.mjs';

const handles = new Map();

const ops = {
  context: ({ token, key }) => handles.set(key, remoteContext(token)),
  bh: ({ token, key }) => handles.set(key, remoteBottomHalf(token)),
  notify: ({ key }) => handles.get(key).notify(),
  schedule: ({ key }) => handles.get(key).schedule(),
  cancel: ({ key }) => handles.get(key).cancel(),
  notifyToken: ({ token }) => remoteContext(token).notify(),
  scheduleToken: ({ token }) => remoteBottomHalf(token).schedule(),
};

parentPort.on('message', (req) => {
  if (req.op === 'exit') {
    parentPort.close();
    return;
  }
  try {
    ops[req.op](req);
    parentPort.postMessage({ id: req.id, ok: true });
  } catch (err) {
    parentPort.postMessage({ id: req.id, error: errorInfo(err) });
  }
});
