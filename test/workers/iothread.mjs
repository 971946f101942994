/*
 * One of five I/O threads (the shape of QEMU's test-aio-multithread): each
 * polls its own AioContext; hand-offs hop from thread to thread, each one a
 * message on the MessagePort of the (sender, receiver) pair followed by a
 * schedule of the receiver's shared "inbox" BH, whose callback drains its
 * ports with receiveMessageOnPort().  Every hand-off received is forwarded to
 * a random other thread until the main thread raises stop.
 *
 * Shutdown without losing one: `inflight` (shared) counts hand-offs posted
 * and not yet received, plus senders inside forward().  A sender raises it
 * BEFORE it checks stop, so once stop is set and inflight is 0 no hand-off
 * can ever be sent again; whoever brings it to 0 after stop notifies every
 * context, and each thread leaves its loop when it sees stop && inflight
 * == 0.
 *
 * workerData: { index, count, initial, inPorts: (MessagePort|null)[],
 *               outPorts: (MessagePort|null)[], shared: SharedArrayBuffer }
 * shared Int32Array: [0] stop, [1] inflight.
 * Messages: posts { ctx, inbox } tokens, receives { peers: [{ ctx, inbox }] },
 * posts { sent: number[], received: number[], polls, idle }.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { AioContext, remoteBottomHalf, remoteContext } from 'aiocontext';
import { pollUntil } from './util.mjs';

const { index, count, initial, inPorts, outPorts, shared } = workerData;
const flags = new Int32Array(shared);
const STOP = 0;
const INFLIGHT = 1;

const ctx = new AioContext({ name: `iothread-${index}` });
const sent = new Array(count).fill(0);
const received = new Array(count).fill(0);
let peerBhs = [];
let peerCtxs = [];
let seq = 0;

const stopping = () => Atomics.load(flags, STOP) === 1;

function notifyAll() {
  for (const peer of peerCtxs) {
    try {
      peer.notify();
    } catch (err) {
      if (err.code !== 'ERR_AIO_CLOSED') throw err; // that thread already left
    }
  }
}

/** One fewer hand-off in flight; the last one after stop wakes everybody. */
function landed() {
  if (Atomics.sub(flags, INFLIGHT, 1) === 1 && stopping()) notifyAll();
}

/**
 * Hands off to a random other thread, unless stopping.  The sender counts
 * itself in `inflight` while it runs (so nobody sees 0 between its post and
 * its schedule, which would let the receiver close first), plus one for the
 * message, which the receiver takes back.
 */
function forward() {
  Atomics.add(flags, INFLIGHT, 1); // before the stop check: see the header
  if (!stopping()) {
    let to = Math.floor(Math.random() * (count - 1));
    if (to >= index) to++;
    sent[to]++;
    Atomics.add(flags, INFLIGHT, 1);
    outPorts[to].postMessage(seq++);
    peerBhs[to].schedule();
  }
  landed();
}

const inbox = ctx.bh(
  () => {
    for (let from = 0; from < count; from++) {
      const port = inPorts[from];
      if (port === null) continue;
      while (receiveMessageOnPort(port) !== undefined) {
        received[from]++;
        forward();
        landed();
      }
    }
  },
  { name: `inbox-${index}` },
);

parentPort.once('message', ({ peers }) => {
  peerBhs = peers.map((p) => remoteBottomHalf(p.inbox));
  peerCtxs = peers.map((p) => remoteContext(p.ctx));
  for (let i = 0; i < initial; i++) forward();

  const { polls, idle } = pollUntil(ctx, () => stopping() && Atomics.load(flags, INFLIGHT) === 0, 30_000);

  inbox.delete();
  ctx.close();
  for (const port of [...inPorts, ...outPorts]) port?.close();
  parentPort.postMessage({ sent, received, polls, idle });
});
parentPort.postMessage({ ctx: ctx.share(), inbox: inbox.share() });
