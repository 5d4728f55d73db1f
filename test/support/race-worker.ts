/**
 * One OS process of a cross-process race. It opens the shared store, says `ready`, waits for
 * `go` on stdin so that every worker starts at once, fires its calls concurrently, and prints
 * one JSON line with what happened.
 */
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGuard, type ExecuteRequest, type PolicyDocument } from '@spendguard/core';
import { openStore } from './open-store.ts';

/**
 * Which store a worker opens: a SQLite file, or any backend through a module whose default
 * export makes the store from `args` (so Redis and Postgres tests reuse this worker).
 */
export type WorkerStore = { kind: 'sqlite'; file: string } | { kind: 'module'; path: string; args: unknown };

export interface WorkerConfig {
  store: WorkerStore;
  policies: PolicyDocument;
  token: string;
  /** `distinct`: every call has its own params. `identical`: every call is the same charge. */
  mode: 'distinct' | 'identical';
  calls: number;
  cents: number;
  worker: number;
  vendorDelayMs: number;
  /** Spread each call's start over this many ms, so the processes' calls interleave. Default: 0. */
  startJitterMs?: number;
}

export interface WorkerReport {
  worker: number;
  vendorCalls: number;
  decisions: Record<string, number>;
  resultIds: string[];
}

const config = JSON.parse(process.argv[2] as string) as WorkerConfig;
const guard = createGuard({ policies: config.policies, store: await openStore(config.store) });
let vendorCalls = 0;

const request = (i: number): ExecuteRequest => ({
  key: config.token,
  vendor: 'stripe',
  method: 'POST',
  path: '/v1/charges',
  params: {
    amount: config.cents,
    currency: 'usd',
    order: config.mode === 'identical' ? 'same' : `w${config.worker}-${i}`,
  },
  cost: { amount: config.cents / 100, currency: 'usd' },
});

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'go') break;
lines.close();

const decisions = await Promise.all(
  Array.from({ length: config.calls }, async (_, i) => {
    if (config.startJitterMs) await sleep(Math.random() * config.startJitterMs);
    return guard.execute(request(i), async () => {
      vendorCalls++;
      await sleep(config.vendorDelayMs);
      return { id: `ch_w${config.worker}_${vendorCalls}` };
    });
  }),
);
const report: WorkerReport = { worker: config.worker, vendorCalls, decisions: {}, resultIds: [] };
for (const d of decisions) {
  report.decisions[d.code] = (report.decisions[d.code] ?? 0) + 1;
  if ('result' in d) report.resultIds.push((d.result as { id: string }).id);
}
await guard.close();
process.stdout.write(`${JSON.stringify(report)}\n`);
