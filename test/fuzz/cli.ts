/*
 * cli.ts — `npm run fuzz -- --ops N --seed S [--fdmon M] [--driver D]
 * [--length L] [--runs R] [--max-failures K]`.
 *
 * Runs traces of L ops (default 200) with seeds S, S+1, ... until N ops
 * (default 100,000) ran per fd monitor and driver (every monitor and both
 * drivers unless given), shrinks each divergence to a minimal trace and
 * prints it.  Exits 1 if any run diverged.  --runs 1 replays one seed.
 */
import { parseArgs } from 'node:util';
import { DRIVERS, FDMONS, type Driver, type Fdmon } from './ops';
import { campaign, coverage } from './run';
import { stopWatchdog, watchdogFired } from './watchdog';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    fdmon: { type: 'string' },
    driver: { type: 'string' },
    length: { type: 'string', default: '200' },
    runs: { type: 'string' },
    'max-failures': { type: 'string', default: '1' },
    'shrink-ms': { type: 'string', default: '60000' },
  },
});

function list<T extends string>(value: string | undefined, all: readonly T[], name: string): readonly T[] {
  if (value === undefined) return all;
  if (!all.includes(value as T)) throw new Error(`--${name} must be one of ${all.join(', ')}`);
  return [value as T];
}

const fdmons = list<Fdmon>(values.fdmon, FDMONS, 'fdmon');
const drivers = list<Driver>(values.driver, DRIVERS, 'driver');
const seed = values.seed === undefined ? Math.floor(Math.random() * 0x7fff_ffff) : Number(values.seed);
const length = Number(values.length);
const totalOps = values.runs === undefined ? Number(values.ops) : Number(values.runs) * length;
let failed = 0;

console.log(`fuzz: seed ${seed}, ${totalOps} ops per monitor and driver, traces of ${length} ops`);
for (const driver of drivers) {
  for (const fdmon of fdmons) {
    const r = campaign({ fdmon, driver }, {
      seed, totalOps, length,
      maxFailures: Number(values['max-failures']),
      shrinkMs: Number(values['shrink-ms']),
      onFailure: (report) => console.log(report),
    });
    failed += r.failures.length;
    const rate = Math.round((r.ops / Math.max(r.ms, 1)) * 1000);
    console.log(`fdmon ${fdmon.padEnd(8)} driver ${driver.padEnd(7)} ops ${r.ops} runs ${r.runs} in ${(r.ms / 1000).toFixed(1)} s (${rate} ops/s): ${r.failures.length === 0 ? 'no divergence' : `${r.failures.length} divergence(s), first seed ${r.failures[0].seed}`}`);
  }
}
console.log(`exercised: ${Object.entries(coverage).map(([k, v]) => `${k} ${v}`).join(', ')}`);
if (watchdogFired() > 0) console.log(`watchdog woke ${watchdogFired()} blocking call(s) that hung`);
await stopWatchdog();
process.exitCode = failed > 0 ? 1 : 0;
