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

function handBack(first: () => unknown): boolean {
  // The stack level of this poll(): resumePoll() checks it, so a poll()
  // above it that unwound without ending is ended first.
  const mine = level[0];
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
      // As the addon does for a callback it calls (returned-promise.h).
      if (ret !== undefined && types.isPromise(ret)) onCallbackPromise(ret, true);
      step = binding.resumePoll(mine);
    } while (typeof step !== 'boolean');
    ended = true;
    return step;
  } finally {
    // Unwinding with an exception of our own (a throw from resumePoll() is
    // the pass's end: then this does nothing).
    if (!ended) binding.abandonPoll(mine);
  }
}
