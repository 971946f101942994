/*
 * A stack overflow at the edge of nested poll()s, inside an fd handler
 * that C calls: with frames of size `pad` (argv[2]), the RangeError lands
 * at different places, some inside src/poll-driver.ts's own loop, which
 * then unwinds without ending its pass.  Prints one JSON line: the poll()
 * stack depth after the outer poll(), and three later poll() results with
 * the BH's run count.  Run as a child process (test/poll-driver.test.ts).
 */
import * as fs from 'node:fs';
import { AioContext, pipe } from 'aiocontext';
import { binding } from '../../dist/native.js';

const pad = Number(process.argv[2] ?? 2);
const ctx = new AioContext({ name: 'overflow' });
let runs = 0;
const bh = ctx.bh(() => {
  runs++;
});
const locals = Array.from({ length: pad }, (_, i) => `let v${i} = d + ${i};`).join('');
const sum = Array.from({ length: pad }, (_, i) => `v${i}`).join('+') || '0';
const rec = new Function(
  'bh',
  'ctx',
  `return function rec(d) { ${locals}
    try { bh.schedule(); ctx.poll(false); } catch (e) {}
    try { return rec(d + 1) + ${sum}; } catch { return 0; } };`,
)(bh, ctx);
const [r, w] = pipe();
ctx.setFdHandler(r, {
  read: () => {
    fs.readSync(r, Buffer.alloc(16));
    ctx.setFdHandler(r, null);
    try {
      rec(0);
    } catch {
      /* the overflow */
    }
  },
});
fs.writeSync(w, 'x');
const outer = ctx.poll(true);
const depthAfter = binding.pollLevel[0];
const later = [];
for (let i = 0; i < 3; i++) {
  runs = 0;
  bh.schedule();
  later.push([ctx.poll(false), runs, binding.pollLevel[0]]);
}
bh.delete();
ctx.close();
fs.closeSync(r);
fs.closeSync(w);
console.log(JSON.stringify({ outer, depthAfter, later }));
