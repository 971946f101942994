/*
 * lib.ts — what every benchmark file shares: the result shape, the native
 * helpers, timing and statistics, and the table printer.
 *
 * Each benchmark file exports `run(): Promise<BenchResult[]>`; bench/run.ts
 * runs them all in one process and prints every figure next to its peer's
 * figure from the same run.  `ratio` is always value / peer value.
 */
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
  /** value / peer.value. */
  ratio?: number;
  /** The target, in words, e.g. 'ratio >= 2'. */
  target?: string;
  met?: boolean;
  note?: string;
  /** Extra figures (percentiles, per-repeat values) for results.json. */
  detail?: Record<string, unknown>;
}

/** A result compared with @peer (ratio = value / peer.value). */
export function vs(result: Omit<BenchResult, 'ratio' | 'peer'>, peer?: { name: string; value: number }): BenchResult {
  if (peer === undefined) return result;
  return { ...result, peer, ratio: result.value / peer.value };
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
  const header = ['figure', 'value', 'unit', 'peer (same run)', 'peer value', 'ratio', 'target', 'met'];
  const rows: string[][] = [];
  let group = '';
  for (const r of results) {
    if (r.group !== group) {
      group = r.group;
      rows.push([`[${group}]`, '', '', '', '', '', '', '']);
    }
    rows.push([
      `  ${r.name}`,
      fmt(r.value),
      r.unit,
      r.peer?.name ?? '',
      fmt(r.peer?.value),
      r.ratio === undefined ? '' : `${fmt(r.ratio)}x`,
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
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
