/**
 * One of the revoke-latency bench's worker processes. It holds one guard on a Redis or Postgres
 * store and takes orders on stdin, one JSON line each:
 *
 * - `{"round":n,"token":"sk_sg_…"}`: derive a run key from that root token, then call
 *   `guard.execute` back to back (fresh params, a no-op vendor) until a call is denied
 *   `key_revoked`. Prints `{"type":"looping"}` after the first executed call, then
 *   `{"type":"done",…}` with the wall-clock time of the denial (`performance.timeOrigin +
 *   performance.now()`, comparable with the parent's clock).
 * - `exit`: close the guard and exit.
 *
 * Bounded: a round gives up after MAX_CALLS calls or MAX_ROUND_MS and reports `deniedAt: null`.
 * It opens no port: its only connections are the store's.
 */
import { createInterface } from 'node:readline';
import { createGuard } from '@spendguard/core';
import { freshCharge, POLICIES } from './core-overhead.ts';
import { PostgresStore, RedisStore, wallMs } from './servers.ts';

export interface RevokeWorkerConfig {
  worker: number;
  store: { kind: 'redis'; url: string; prefix: string } | { kind: 'postgres'; url: string; schema: string };
}

export interface RoundOrder {
  round: number;
  token: string;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'looping'; round: number }
  | {
      type: 'done';
      round: number;
      /** When the first `key_revoked` denial came back; null if the round gave up. */
      deniedAt: number | null;
      /** When that denied call was started. */
      deniedCallStartedAt: number | null;
      /** When the last call that executed was started. */
      lastExecutedStartedAt: number | null;
      executed: number;
      /** Decisions other than executed and key_revoked, by `decision/code`. */
      other: Record<string, number>;
    };

const MAX_CALLS = 100_000;
const MAX_ROUND_MS = 10_000;

const config = JSON.parse(process.argv[2] as string) as RevokeWorkerConfig;
const spec = config.store;
const store =
  spec.kind === 'redis'
    ? new RedisStore({ url: spec.url, prefix: spec.prefix })
    : // Five connections each: four workers stay well inside the server's max_connections.
      new PostgresStore({ url: spec.url, schema: spec.schema, max: 5 });
const guard = createGuard({ policies: POLICIES, store });
const vendor = async () => ({ id: `ch_w${config.worker}`, object: 'charge' });

function send(message: WorkerMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function round(order: RoundOrder): Promise<void> {
  const run = await guard.keys.derive(order.token, { runId: `w${config.worker}-r${order.round}` });
  const other: Record<string, number> = {};
  let executed = 0;
  let lastExecutedStartedAt: number | null = null;
  const giveUpAt = performance.now() + MAX_ROUND_MS;
  for (let calls = 0; calls < MAX_CALLS && performance.now() < giveUpAt; calls++) {
    const request = freshCharge(run.token, `ord_w${config.worker}_`);
    const startedAt = wallMs();
    const d = await guard.execute(request, vendor);
    if (d.decision === 'denied' && d.code === 'key_revoked') {
      const deniedAt = wallMs();
      send({
        type: 'done',
        round: order.round,
        deniedAt,
        deniedCallStartedAt: startedAt,
        lastExecutedStartedAt,
        executed,
        other,
      });
      return;
    }
    if (d.decision === 'executed' && d.code === 'executed') {
      executed++;
      lastExecutedStartedAt = startedAt;
      if (executed === 1) send({ type: 'looping', round: order.round });
    } else {
      const label = `${d.decision}/${d.code}`;
      other[label] = (other[label] ?? 0) + 1;
    }
  }
  send({
    type: 'done',
    round: order.round,
    deniedAt: null,
    deniedCallStartedAt: null,
    lastExecutedStartedAt,
    executed,
    other,
  });
}

send({ type: 'ready' });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'exit') break;
  await round(JSON.parse(line) as RoundOrder);
}
await guard.close();
