#!/usr/bin/env node
// Run before node-gyp when the addon is built from source (the package's
// install script: `node-gyp-build "node scripts/check-build-deps.cjs"`, and
// `npm run build:native`).  Checks for what binding.gyp needs and, when
// something is missing, prints a few lines that name the exact
// `apt-get install` line and exits 1, instead of letting gyp fail ~50 lines
// later with "Package 'glib-2.0' was not found".  Silent on success.
//
// Shipped in the package (package.json "files"): plain Node, no
// dependencies.
'use strict';
const { spawnSync } = require('node:child_process');

/** What the build needs; `deb` is the Debian/Ubuntu package that has it. */
const needs = [
  { what: 'a C compiler (cc)', deb: 'gcc', check: () => run('cc', ['--version']) },
  { what: 'a C++ compiler (c++)', deb: 'g++', check: () => run('c++', ['--version']) },
  { what: 'make', deb: 'make', check: () => run('make', ['--version']) },
  { what: 'python3 (node-gyp)', deb: 'python3', check: () => run('python3', ['--version']) },
  { what: 'pkg-config', deb: 'pkg-config', check: () => run('pkg-config', ['--version']) },
  {
    what: 'the GLib headers (pkg-config glib-2.0 >= 2.66)',
    deb: 'libglib2.0-dev',
    check: () => run('pkg-config', ['--exists', 'glib-2.0 >= 2.66']),
  },
  {
    what: 'the liburing headers and static library (pkg-config liburing, liburing.a)',
    deb: 'liburing-dev',
    check: () => run('pkg-config', ['--exists', 'liburing']) && hasStatic('liburing', 'liburing.a'),
  },
  {
    // libaio has no pkg-config file: the compiler finds its header and .a.
    what: 'the libaio header and static library (libaio.h, libaio.a)',
    deb: 'libaio-dev',
    check: () => compiles('#include <libaio.h>') && hasOnCompilerPath('libaio.a'),
  },
];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

/** Whether the C compiler preprocesses @source without error. */
function compiles(source) {
  const r = spawnSync('cc', ['-E', '-x', 'c', '-'], { input: source + '\n', stdio: ['pipe', 'ignore', 'ignore'] });
  return r.status === 0;
}

/** Whether the C compiler's library search path has @file. */
function hasOnCompilerPath(file) {
  const r = spawnSync('cc', ['-print-file-name=' + file], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== file;
}

/** Whether @file is in the libdir pkg-config gives for @pkg. */
function hasStatic(pkg, file) {
  const r = spawnSync('pkg-config', ['--variable=libdir', pkg], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  return require('node:fs').existsSync(require('node:path').join(r.stdout.trim(), file));
}

const missing = needs.filter((n) => !n.check());
if (missing.length > 0) {
  const debs = [...new Set(missing.map((n) => n.deb))];
  process.stderr.write(
    [
      'aiocontext: cannot build the native addon from source; missing:',
      ...missing.map((n) => `  - ${n.what}`),
      'On Debian or Ubuntu, install them with:',
      `  sudo apt-get install ${debs.join(' ')}`,
      'then run `npm rebuild aiocontext`.  (The package ships a prebuilt binary for',
      'linux-x64 with glibc, which needs only GLib at run time; it was not used here.)',
      '',
    ].join('\n'),
  );
  process.exit(1);
}
