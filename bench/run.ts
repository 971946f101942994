/*
 * run.ts — `npm run bench`: every benchmark in one process, each figure next
 * to its peer's figure from the same run.  Prints a table and writes
 * bench/results.json.
 *
 *   npm run bench                 everything (well under 2 minutes)
 *   npm run bench -- bh timers    only the sections whose name contains
 *                                 one of the words
 *
 * Sections: bh-rate (1), pingpong (2), idle-fds (3), timers (4),
 * threads.ts (cross-thread BH latency) when that file exists, and
 * file-io (9: AioFile reads and writes next to node:fs).  Each exports
 * `run(): Promise<BenchResult[]>` (bench/lib.ts).
 *
 * Benchmarks are not tests: a missed target is reported, not fatal.  Every
 * figure is the median of interleaved repetitions (A B A B ..., after a
 * warm-up), printed with its min–max, next to a peer measured in the same
 * rounds; a warning is printed when the load average exceeds half the
 * CPUs.  Judge a busy machine by the ratios, not the absolute figures.
 * The run ends with the same table in markdown, for the README.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BenchResult, ROOT, loadWarning, markdownTable, table } from './lib';

interface Section {
  name: string;
  file: string;
}

const SECTIONS: Section[] = [
  { name: 'bh-rate', file: 'bh-rate.ts' },
  { name: 'pingpong', file: 'pingpong.ts' },
  { name: 'idle-fds', file: 'idle-fds.ts' },
  { name: 'timers', file: 'timers.ts' },
  { name: 'threads', file: 'threads.ts' }, // issue 4's; optional
  { name: 'file-io', file: 'file-io.ts' }, // issue 9: AioFile vs node:fs
];

/** Accepts results from files that follow the convention loosely. */
function normalize(section: string, raw: unknown): BenchResult[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((r: Partial<BenchResult> & Record<string, unknown>) => ({
    ...r,
    group: r.group ?? section,
    name: r.name ?? '(unnamed)',
    value: typeof r.value === 'number' ? r.value : NaN,
    unit: r.unit ?? '',
  }));
}

async function main(): Promise<void> {
  const words = process.argv.slice(2);
  const loadBefore = os.loadavg()[0];
  console.log(`${os.cpus().length} CPUs, load average ${loadBefore.toFixed(2)}`);
  const warnBefore = loadWarning();
  if (warnBefore) console.log(warnBefore);
  const chosen = SECTIONS.filter((s) => words.length === 0 || words.some((w) => s.name.includes(w)));
  const started = performance.now();
  const results: BenchResult[] = [];
  const timings: Record<string, number> = {};

  for (const section of chosen) {
    const file = path.join(ROOT, 'bench', section.file);
    if (!fs.existsSync(file)) {
      console.log(`(${section.name}: ${section.file} does not exist; skipped)`);
      continue;
    }
    const t0 = performance.now();
    process.stdout.write(`running ${section.name}... `);
    const mod = (await import(`./${section.file}`)) as { run?: () => Promise<unknown> };
    if (typeof mod.run !== 'function') {
      console.log(`skipped: ${section.file} exports no run()`);
      continue;
    }
    results.push(...normalize(section.name, await mod.run()));
    timings[section.name] = (performance.now() - t0) / 1e3;
    console.log(`${timings[section.name].toFixed(1)} s`);
  }

  const total = (performance.now() - started) / 1e3;
  console.log('');
  console.log(table(results));
  const loadAfter = os.loadavg()[0];
  console.log(`\nratio = value / peer value (medians).  Total ${total.toFixed(1)} s.  Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);
  const warnAfter = loadWarning();
  if (warnAfter) console.log(warnAfter);
  console.log('\nMarkdown (for the README):\n');
  console.log(markdownTable(results));

  const out = path.join(ROOT, 'bench', 'results.json');
  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      kernel: os.release(),
      node: process.version,
      loadAverage: { before: loadBefore, after: loadAfter },
    },
    seconds: { total, ...timings },
    results,
  };
  fs.writeFileSync(out, `${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  console.log(`Wrote ${path.relative(process.cwd(), out)}`);
}

await main();
