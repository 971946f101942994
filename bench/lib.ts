/*
 * lib.ts — what every benchmark file shares: the result shape, the native
 * helpers, timing and statistics, and the table printer.
 *
 * Each benchmark file exports `run(): Promise<BenchResult[]>`; bench/run.ts
 * runs them all in one process and prints every figure next to its peer's
 * figure from the same run.  `ratio` is always value / peer value.
 */
import * as os from 'node:os';
import { ROOT as REPO_ROOT, type TestingAddon, testingAddon } from '../test/helpers/testing';

export interface BenchResult {
  /** The section, e.g. 'bh-rate'. */
  group: string;
  /** What was measured. */
  name: string;
  value: number;
  /** e.g. 'M/s', 'ns', 'µs'. */
  unit: string;
  /** The figure this one is compared with, measured in the same run. */
  peer?: { name: string; value: number };
  /** value / peer.value, or the median of paired per-round ratios (ratioSpread). */
  ratio?: number;
  /** The target, in words, e.g. 'ratio >= 2'. */
  target?: string;
  met?: boolean;
  note?: string;
  /** Extra figures (percentiles, per-repeat values) for results.json. */
  detail?: Record<string, unknown>;
  /** min–max of the repetitions behind value (and behind the peer's). */
  spread?: Spread;
  peerSpread?: Spread;
  /** When set, ratio is the median of per-round ratios (figure and peer
   * measured in the same round), and this their spread. */
  ratioSpread?: Spread;
}

/** The median of n repetitions, with their extremes. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** A result compared with @peer (ratio = value / peer.value). */
export function vs(
  result: Omit<BenchResult, 'ratio' | 'peer'>,
  peer?: { name: string; value: number; spread?: Spread },
): BenchResult {
  if (peer === undefined) return result;
  const { spread, ...rest } = peer;
  return { ...result, peer: rest, ratio: result.value / peer.value, ...(spread ? { peerSpread: spread } : {}) };
}

/* ---- the native helpers (native/testing/bench-helpers.cc) ----------------- */

/** The benchmark helpers of the helper addon (typed in test/helpers/testing.ts). */
export type BenchNative = Omit<
  TestingAddon,
  'linkProduct' | 'scheduleFromNativeThread' | 'nativeJobDone' | 'nativeJobJoin'
>;

export const ROOT = REPO_ROOT;

/** The helper addon (aiocontext_testing.node), linked to the package's addon. */
export const native: BenchNative = testingAddon;

/* ---- timing --------------------------------------------------------------- */

export function nowNs(): number {
  return performance.now() * 1e6;
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** The @p-th percentile (nearest rank) of @xs. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** The median and extremes of @xs. */
export function spreadOf(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** @s mapped through @f (which may reverse the order, e.g. ns -> rate). */
export function mapSpread(s: Spread, f: (x: number) => number): Spread {
  const a = f(s.min);
  const b = f(s.max);
  return { median: f(s.median), min: Math.min(a, b), max: Math.max(a, b), n: s.n };
}

/**
 * Runs every case of @cases @rounds times, interleaved: one warm-up of
 * each, then round after round of A B C ..., the order rotated each round
 * so that no case always follows the same neighbour.  Load from other
 * processes then lands on every case alike, and a figure and its peer get
 * the same number of repetitions.  Returns each case's measurements.
 */
export async function interleave<K extends string>(
  cases: Record<K, () => number | Promise<number>>,
  rounds: number,
): Promise<Record<K, number[]>> {
  const keys = Object.keys(cases) as K[];
  const out = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (const k of keys) await cases[k]();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[(i + r) % keys.length];
      out[k].push(await cases[k]());
    }
  }
  return out;
}

/**
 * A warning when the machine is busy (1-minute load average above half
 * the CPUs), else undefined.  Ratios from one run stay meaningful;
 * absolute figures do not.
 */
export function loadWarning(): string | undefined {
  const load = os.loadavg()[0];
  const cpus = os.cpus().length;
  if (load <= 0.5 * cpus) return undefined;
  return (
    `WARNING: load average ${load.toFixed(2)} on ${cpus} CPUs (> ${(0.5 * cpus).toFixed(1)}): other processes ` +
    'are running; absolute figures are skewed, compare same-run ratios only'
  );
}

/** Runs @fn @repeat times (after one warm-up) and returns every result. */
export async function repeat(times: number, fn: () => number | Promise<number>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < times; i++) out.push(await fn());
  return out;
}

/* ---- printing ------------------------------------------------------------- */

function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** A plain-text table of @results, grouped by section. */
export function table(results: readonly BenchResult[]): string {
  const header = ['figure', 'value', 'unit', 'peer (same run)', 'peer value', 'ratio', 'target', 'met', 'spread (value; peer)'];
  const rows: string[][] = [];
  let group = '';
  for (const r of results) {
    if (r.group !== group) {
      group = r.group;
      rows.push([`[${group}]`, '', '', '', '', '', '', '', '']);
    }
    rows.push([
      `  ${r.name}`,
      fmt(r.value),
      r.unit,
      r.peer?.name ?? '',
      fmt(r.peer?.value),
      r.ratio === undefined ? '' : `${fmt(r.ratio)}x${r.ratioSpread ? ` [${fmt(r.ratioSpread.min)}–${fmt(r.ratioSpread.max)}]` : ''}`,
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
      [fmtSpread(r.spread), fmtSpread(r.peerSpread)].filter((x) => x).join('; '),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i >= 1 && i <= 5 && i !== 2 && i !== 3 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w)))];
  for (const row of rows) out.push(line(row));
  const notes = results.filter((r) => r.note).map((r) => `  - ${r.group} / ${r.name}: ${r.note}`);
  if (notes.length > 0) out.push('', 'Notes:', ...notes);
  return out.join('\n');
}

function fmtSpread(s: Spread | undefined): string {
  return s === undefined ? '' : `${fmt(s.min)}–${fmt(s.max)} (n=${s.n})`;
}

/**
 * A markdown table of @results that the README can take as is: figure,
 * value (median), peer from the same run, ratio of the medians, and the
 * min–max of the repetitions of each.
 */
export function markdownTable(results: readonly BenchResult[]): string {
  const out = ['| figure | value | peer (same run) | ratio | spread: value; peer |', '|---|---|---|---|---|'];
  let group = '';
  for (const r of results) {
    if (r.group !== group) {
      group = r.group;
      out.push(`| **${group}** | | | | |`);
    }
    const peer = r.peer ? `${r.peer.name}: ${fmt(r.peer.value)} ${r.unit}` : '';
    const paired = r.ratioSpread ? ` [${fmt(r.ratioSpread.min)}–${fmt(r.ratioSpread.max)}]` : '';
    const ratio = r.ratio === undefined ? '' : `${fmt(r.ratio)}×${paired}${r.target ? ` (target ${r.target.replace('ratio ', '')}${r.met === false ? ', missed' : ''})` : ''}`;
    const spread = [fmtSpread(r.spread), fmtSpread(r.peerSpread)].filter((x) => x).join('; ');
    out.push(`| ${r.name} | ${fmt(r.value)} ${r.unit} | ${peer} | ${ratio} | ${spread} |`);
  }
  return out.join('\n');
}
