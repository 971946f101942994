/*
 * soak.test.ts — a short soak (`npm run soak` is the long one): RSS and
 * open fds before and after create/fire/delete cycles and contexts closed
 * with leftovers.  Loose RSS threshold: this is a smoke test.
 */
import test from 'ava';
import { formatSoak, soak, type SoakOptions } from './soak/soak';

test('soak: 50,000 cycles and 1,000 contexts closed with leftovers leak no fds and little memory', async (t) => {
  const o: SoakOptions = { cycles: 50_000, contexts: 1_000, fdmon: 'auto', rssLimitMb: 24 };
  const s = await soak(o);
  t.log(formatSoak(o, s));
  t.is(s.fired, 3 * o.cycles);
  t.is(s.afterCycles.fds, s.before.fds);
  t.is(s.afterContexts.fds, s.before.fds);
  t.true(s.afterContexts.rssMb - s.before.rssMb < o.rssLimitMb, `RSS grew by ${(s.afterContexts.rssMb - s.before.rssMb).toFixed(1)} MB`);
  t.deepEqual(s.problems, []);
});
