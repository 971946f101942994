/*
 * Block I/O inside GTK: an AioContext attached to the default GMainContext
 * delivers file completions while node-gtk's Gtk.main() runs it, for each
 * engine (threads, io_uring, linux-aio with O_DIRECT); the last callback
 * quits the loop.  Serial: node-gtk's loops are process-wide.
 */
import test from 'ava';
import { CONFIGS, ioBuffer, openFile, randomBytes } from './helpers/files.js';
import { ensureDisplay, getGtk, loopGuard, runBlocking } from './helpers/gtk.js';
import { openContext } from './helpers/loop.js';

test.before(async () => {
  await ensureDisplay(); // $DISPLAY, or a private Xvfb
  getGtk();
});

for (const cfg of CONFIGS.filter((c) => c.name !== 'threads direct')) {
  test.serial(`Gtk.main() runs the completions of ${cfg.name} reads and writes`, async (t) => {
    const Gtk = getGtk();
    const ctx = openContext(t, { name: `gtk-file-${cfg.engine}` });
    ctx.attach();
    t.teardown(() => {
      if (!ctx.closed) ctx.detach();
    });
    const content = randomBytes(16 * 4096, 21);
    const { file } = openFile(t, ctx, cfg, content);
    const bufs = Array.from({ length: 16 }, () => ioBuffer(4096));
    const log: string[] = [];
    let pending = 17;
    const finish = (): void => {
      if (--pending === 0) Gtk.mainQuit();
    };
    bufs.forEach((b, i) =>
      file.read(b, i * 4096, (err, n) => {
        log.push(err === null && n === 4096 ? 'read' : `error ${err?.code}`);
        finish();
      }),
    );
    const out = ioBuffer(4096, 0x33);
    file.write(out, 16 * 4096, (err, n) => {
      log.push(err === null && n === 4096 ? 'write' : `error ${err?.code}`);
      finish();
    });

    const guard = loopGuard(() => Gtk.mainQuit());
    await runBlocking(() => Gtk.main());
    guard.cancel();

    t.false(guard.fired, 'the last completion quit the loop');
    t.is(log.length, 17);
    t.is(log.filter((l) => l === 'read').length, 16);
    t.is(log.filter((l) => l === 'write').length, 1);
    bufs.forEach((b, i) => t.true(b.equals(content.subarray(i * 4096, (i + 1) * 4096))));
    t.is(file.stats.inFlight, 0);
  });
}
