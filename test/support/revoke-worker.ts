/**
 * A worker that takes orders one line at a time, so a test can interleave processes: `call
 * <order>` runs one charge and prints its decision as a JSON line, `exit` closes the guard.
 * With `revoke` set it instead revokes that key id, prints `{"revoked":true|false}` and exits.
 */
import { createInterface } from 'node:readline';
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { openStore } from './open-store.ts';
import type { WorkerStore } from './race-worker.ts';

export interface RevokeWorkerConfig {
  store: WorkerStore;
  policies: PolicyDocument;
  /** The parent token; each caller derives its own run key from it. */
  token: string;
  worker: number;
  /** Revoke this key id and exit. */
  revoke?: string;
}

const config = JSON.parse(process.argv[2] as string) as RevokeWorkerConfig;
const guard = createGuard({ policies: config.policies, store: await openStore(config.store) });

if (config.revoke) {
  const revoked = await guard.keys.revoke(config.revoke);
  await guard.close();
  process.stdout.write(`${JSON.stringify({ revoked })}\n`);
} else {
  const run = await guard.keys.derive(config.token, { runId: `worker-${config.worker}` });
  let vendorCalls = 0;
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'exit') break;
    const order = line.slice('call '.length);
    const d = await guard.execute(
      {
        key: run.token,
        vendor: 'stripe',
        method: 'POST',
        path: '/v1/charges',
        params: { amount: 100, currency: 'usd', order },
        cost: { amount: 1, currency: 'usd' },
      },
      async () => ({ id: `ch_w${config.worker}_${++vendorCalls}` }),
    );
    process.stdout.write(`${JSON.stringify({ decision: d.decision, code: d.code, vendorCalls })}\n`);
  }
  await guard.close();
}
