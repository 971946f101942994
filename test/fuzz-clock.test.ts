/*
 * fuzz-clock.test.ts — issue #13.4 as a fixed seed: the process-wide
 * virtual clock never wraps.  A file (so a process) of its own: the test
 * moves the clock to its end.
 */
import test from 'ava';
import { clockNeverWraps } from './fuzz/regressions';

test('fuzz seed #13.4: 1,100 steps of 2**53 - 1 ns never make the virtual clock negative', (t) => {
  t.is(clockNeverWraps(), null);
});
