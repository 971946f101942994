/*
 * build-deps.test.ts — scripts/check-build-deps.cjs, which runs before
 * node-gyp when the addon is built from source: silent when everything is
 * there, a few lines naming the apt-get line when pkg-config finds nothing.
 * (scripts/test-package.sh runs the same path through `npm rebuild` of the
 * installed tarball.)
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'check-build-deps.cjs');

function check(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [SCRIPT], { env: { ...process.env, ...env }, encoding: 'utf8' });
}

test('build deps: on this machine (set up by scripts/setup.sh) the check passes silently', (t) => {
  const r = check({});
  t.is(r.status, 0);
  t.is(r.stdout, '');
  t.is(r.stderr, '');
});

test('build deps: with pkg-config pointing nowhere, it fails in a few lines that name the apt-get line', (t) => {
  const r = check({ PKG_CONFIG_PATH: '', PKG_CONFIG_LIBDIR: '/nonexistent' });
  t.is(r.status, 1);
  t.is(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  t.true(lines.length <= 10, r.stderr);
  t.is(lines[0], 'aiocontext: cannot build the native addon from source; missing:');
  t.true(lines.includes('  - the GLib headers (pkg-config glib-2.0 >= 2.66)'), r.stderr);
  t.true(lines.includes('  sudo apt-get install libglib2.0-dev liburing-dev'), r.stderr);
  t.false(r.stderr.includes('npm run setup'));
});
