import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { PolicyDocument } from '@spendguard/core';
import type { WorkerConfig, WorkerReport } from './race-worker.ts';

const WORKER = fileURLToPath(new URL('./race-worker.ts', import.meta.url));

/** Start one worker process per config, release them together, and collect their reports. */
export async function race(configs: WorkerConfig[], timeoutMs = 60_000): Promise<WorkerReport[]> {
  const children: ChildProcess[] = configs.map((config) =>
    spawn(process.execPath, ['--conditions=@spendguard/source', WORKER, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const timer = setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const outputs = children.map((child) => {
      let text = '';
      child.stdout?.setEncoding('utf8');
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: string) => {
          text += chunk;
          if (text.startsWith('ready\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
      });
      const done = once(child, 'exit').then(([code]) => {
        if (code !== 0) throw new Error(`worker exited with ${code}`);
        return JSON.parse(text.slice('ready\n'.length).trim()) as WorkerReport;
      });
      return { ready, done };
    });
    await Promise.all(outputs.map((o) => o.ready));
    for (const child of children) child.stdin?.end('go\n');
    return await Promise.all(outputs.map((o) => o.done));
  } finally {
    clearTimeout(timer);
  }
}

/** What every worker of one race shares: its store, the policies and the root key's token. */
export type RaceBase = Pick<WorkerConfig, 'store' | 'policies' | 'token'>;

/** Stripe charges capped per key at `capUsd`: the policy every race runs under. */
export function racePolicies(capUsd: number): PolicyDocument {
  return { policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: capUsd } } } };
}

/** The cap race: four workers, `calls` distinct $2.35 charges each, their starts spread over 100 ms. */
export function capRace(base: RaceBase, calls: number): WorkerConfig[] {
  return [0, 1, 2, 3].map((worker) => ({
    ...base,
    mode: 'distinct',
    calls,
    cents: 235,
    worker,
    vendorDelayMs: 1,
    startJitterMs: 100, // so the processes' calls interleave, even on a loaded machine
  }));
}

/** The duplicate race: four workers, the same $5 charge 25 times each, the vendor taking 50 ms. */
export function duplicateRace(base: RaceBase): WorkerConfig[] {
  return [0, 1, 2, 3].map((worker) => ({
    ...base,
    mode: 'identical',
    calls: 25,
    cents: 500,
    worker,
    vendorDelayMs: 50,
  }));
}
