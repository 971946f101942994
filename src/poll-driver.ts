/*
 * poll-driver.ts — the JS half of poll(): calls the BH functions that the
 * addon's pass hands back, and runs the pass on.
 *
 * A call from C into JS costs about three times a call from JS into the
 * addon, so the addon's poll() does not call a BH's JS function itself: it
 * stops its pass (the core's aio_poll()) right after that BH and returns
 * the function (native/addon/poll-driver.h).  finishPoll() calls it and
 * resumePoll() runs the pass on, until the pass ends.  Callbacks see
 * exactly what they would see inside aio_poll(): what one throws or
 * returns is handed over as the addon's own trampolines would hand it.
 *
 * JS thread only.
 */
import { types } from 'node:util';
import { type PollStep, binding } from './native';
import { onCallbackPromise } from './rejections';

const level = binding.pollLevel;

/** Runs what the addon's poll() returned to its end: poll()'s result. */
export function finishPoll(step: PollStep): boolean {
  return typeof step === 'boolean' ? step : handBack(step);
}

/* As the addon does for what a callback it calls returns
 * (returned-promise.h): a promise goes to the rejection hook; the hook's
 * own failure is reported, not thrown into the pass. */
function watchReturned(ret: unknown): void {
  if (!types.isPromise(ret)) return;
  try {
    onCallbackPromise(ret, true);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

function handBack(first: () => unknown): boolean {
  // The stack level of this poll(): resumePoll() checks it, so a poll()
  // above it that unwound without ending is ended first.  level[1] tells
  // the addon which loop is the innermost still running: a poll() begun
  // later ends the handed-back passes above it, whose loops are gone.
  // (Plain stores: they cannot throw, even at the edge of the stack.)
  const mine = level[0];
  const outer = level[1];
  level[1] = mine;
  let step: PollStep = first;
  let ended = false;
  try {
    do {
      let ret: unknown;
      try {
        ret = step();
      } catch (err) {
        step = binding.resumePoll(mine, err);
        continue;
      }
      if (ret !== undefined) watchReturned(ret);
      step = binding.resumePoll(mine);
    } while (typeof step !== 'boolean');
    ended = true;
    return step;
  } finally {
    level[1] = outer;
    // Unwinding with an exception of our own (a throw from resumePoll() is
    // the pass's end: then this does nothing).  Should this call itself
    // fail (no stack left), the next poll() or Node's loop ends the pass.
    if (!ended) binding.abandonPoll(mine);
  }
}
