/*
 * demo.ts — `npm start`: a guided tour of aiocontext.
 *
 * It registers a pipe and an EventNotifier, bottom halves and a timer on one
 * AioContext, drives the context first with poll() (QEMU's aio_poll) and
 * then, once attached, through GLib's default main context with
 * MainContext.iteration(), and prints what ran, in order.
 *
 *   node --import=tsx examples/demo.ts
 */
import * as fs from 'node:fs';
import { AioContext, EventNotifier, MainContext, SCALE_MS, clockNs, pipe } from 'aiocontext';

/* ---- printing ----------------------------------------------------------- */

const start = clockNs('realtime');
const elapsed = (): string => `${((clockNs('realtime') - start) / SCALE_MS).toFixed(1).padStart(6)} ms`;

/** A line of explanation. */
function say(text: string): void {
  console.log(`  ${text}`);
}

/** A callback ran: printed with the time since the demo started. */
function ran(what: string): void {
  console.log(`    [${elapsed()}] ran: ${what}`);
}

function section(title: string): void {
  console.log(`\n== ${title}\n`);
}

/** Milliseconds from now on QEMU_CLOCK_REALTIME, for a SCALE_MS timer. */
function inMs(ms: number): number {
  return Math.ceil(clockNs('realtime') / SCALE_MS) + ms;
}

/* ---- the context and what it runs --------------------------------------- */

section('Setting up one AioContext');

const ctx = new AioContext({ name: 'demo' });
say(`new AioContext({ name: 'demo' }): an event loop with no callbacks yet (fd monitor: ${ctx.stats.fdmon}).`);

// An fd handler: a pipe we write to ourselves.
const [readFd, writeFd] = pipe();
ctx.setFdHandler(readFd, {
  read: () => {
    const buf = Buffer.alloc(64);
    const n = fs.readSync(readFd, buf, 0, buf.length, null);
    ran(`fd handler: read "${buf.subarray(0, n).toString()}" from the pipe`);
  },
});
say(`setFdHandler(${readFd}, { read }): calls read() whenever the pipe has data.`);

// An event notifier: an eventfd as a wake-up flag (level-triggered, so the
// handler clears it).
const notifier = new EventNotifier();
ctx.setEventNotifier(notifier, {
  read: (n) => {
    n.testAndClear();
    ran(`event notifier handler (it receives the notifier itself: ${n === notifier})`);
  },
});
say(`setEventNotifier(notifier, { read }): calls read(notifier) whenever it is set.`);

// Bottom halves: deferred calls, scheduled from anywhere, run by the loop.
const bhA = ctx.bh(() => ran('bottom half A'), { name: 'A' });
const bhB = ctx.bh(() => ran('bottom half B'), { name: 'B' });
say('bh(cb, { name }) twice: two bottom halves, A and B, not scheduled yet.');

// A timer on the monotonic clock, with times in milliseconds.
const timer = ctx.timer('realtime', SCALE_MS, () => ran('timer'));
say("timer('realtime', SCALE_MS, cb): a timer whose times are in ms; not armed yet.");

/* ---- poll() ------------------------------------------------------------- */

section('1. Driving the loop yourself with poll()');

bhA.schedule();
bhB.schedule();
fs.writeSync(writeFd, 'hello');
notifier.set();
timer.mod(inMs(30));
say('Scheduled A, then B; wrote "hello" to the pipe; set the notifier; armed the timer 30 ms ahead.');
say(`computeTimeout() = ${ctx.computeTimeout()} ns: a BH is scheduled, so a blocking poll would not wait.`);
say('');
say('poll(false) runs everything that is ready now, in QEMU\'s order: bottom halves');
say('(the last scheduled first), then fd handlers, then expired timers:');
const first = ctx.poll(false);
say(`poll(false) returned ${first}: true means at least one callback ran.`);
say('');
say(`The timer is not due: computeTimeout() = ${(ctx.computeTimeout() / SCALE_MS).toFixed(1)} ms until it is.`);
say('poll(true) sleeps in ppoll() until then and runs it:');
const second = ctx.poll(true);
say(`poll(true) returned ${second}.`);
say(`poll(false) now returns ${ctx.poll(false)}: nothing is left to run (computeTimeout() = ${ctx.computeTimeout()}, forever).`);

/* ---- exceptions --------------------------------------------------------- */

section('2. A callback that throws');

const thrower = ctx.bh(() => {
  ran('bottom half that throws');
  throw new Error('oops');
});
const after = ctx.bh(() => ran('the BH scheduled before it, still run in the same pass'));
after.schedule();
thrower.schedule();
try {
  ctx.poll(false);
} catch (err) {
  say(`poll(false) threw "${(err as Error).message}" once the pass was over: the loop stays consistent.`);
}
thrower.delete();
after.delete();

/* ---- a GLib main loop --------------------------------------------------- */

section('3. Letting GLib drive it: attach() and MainContext.iteration()');

const main = MainContext.default();
const before = ctx.stats.fdmon;
const id = ctx.attach(main);
say(`attach() added the context to GLib's default main context as GSource #${id}.`);
say('Any GLib loop in the process (GTK\'s, node-gtk\'s) now runs it; here we iterate it by hand.');
if (before !== ctx.stats.fdmon) {
  say(`The fd monitor moved from '${before}' to '${ctx.stats.fdmon}': under GLib, 'auto' lets GLib poll the fds itself.`);
}
say('');
ctx.scheduleOneshot(() => ran('oneshot BH (no handle: it runs once and is freed)'));
bhA.schedule();
fs.writeSync(writeFd, 'again');
say('Scheduled a oneshot and A again, wrote "again" to the pipe. iteration(false):');
say(`iteration(false) returned ${main.iteration(false)}: GLib dispatched our source (prepare, check, dispatch).`);
say('');
timer.mod(inMs(20));
say('Armed the timer 20 ms ahead. iteration(true) sleeps in GLib\'s poll until it is due:');
let iterations = 0;
while (timer.pending && iterations < 100) {
  main.iteration(true);
  iterations++;
}
say(`That took ${iterations} blocking iteration(s), not a busy loop: GLib sleeps for the timeout our`);
say('GSource asks for, rounded up to whole ms.');

/* ---- stats and cleanup -------------------------------------------------- */

section('4. Stats, then cleaning up');

const s = ctx.stats;
say(`ctx.stats (read live): ${s.handlers} fd handlers, ${s.bhs} bottom halves, ${s.timers} timer,`);
say(`notifyMe = ${s.notifyMe} (bit 0: a GLib prepare is waiting for check), notified = ${s.notified},`);
say(`fd monitor '${s.fdmon}', busy polling ${s.pollStarted ? 'on' : 'off'} (poll time ${s.pollNs} ns).`);
say('');

bhA.delete();
bhB.delete();
timer.delete();
ctx.setFdHandler(readFd, null);
ctx.setEventNotifier(notifier, null);
ctx.detach();
say(`Deleted the BHs and the timer, removed both handlers, detached (sourceId is now ${ctx.sourceId}).`);
ctx.close();
notifier.close();
fs.closeSync(readFd);
fs.closeSync(writeFd);
say('close() released the context; the pipe and the notifier are ours to close, and we did.');
say('(A BottomHalf never deleted would have been named in an AioLeakWarning.)');
console.log('');
