/*
 * An I/O thread that never stops by itself: it posts its context's token
 * and loops on poll(true).  Only worker.terminate() ends it, and only once
 * something wakes its poll (remoteContext(t).notify()).
 */
import { parentPort } from 'node:worker_threads';
import { AioContext } from 'aiocontext';

const ctx = new AioContext({ name: 'forever' });
parentPort.postMessage({ ctx: ctx.share() });
for (;;) ctx.poll(true);
