/*
 * Runs a child Node.js process (with tsx) and collects its stdout lines,
 * stderr and exit status; kills it after @killMs so that a hang (a liveness
 * bug) shows up as SIGKILL instead of a stuck test.
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
  ms: number;
}

export function runNode(script: string, args: readonly string[], options: { killMs?: number; nodeArgs?: readonly string[] } = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import=tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, lines: stdout.split('\n').filter((l) => l !== ''), stderr, ms: Date.now() - start });
    });
  });
}
