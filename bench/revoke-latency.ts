import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createGuard, type Store } from '@spendguard/core';
import { POLICIES } from './core-overhead.ts';
import type { BenchResult, Check, MetricRow } from './report.ts';
import type { RevokeWorkerConfig, WorkerMessage } from './revoke-worker.ts';
import {
  barePool,
  benchPrefix,
  benchSchema,
  POSTGRES_URL,
  PostgresStore,
  REDIS_URL,
  RedisStore,
  wallMs,
} from './servers.ts';
import { summarize } from './stats.ts';

/**
 * Revocation across processes: four worker processes (revoke-worker.ts) each call
 * `guard.execute` back to back on their own run key derived from one root key; this process (a
 * fifth) revokes the root. Each worker reports when its first `key_revoked` denial came back;
 * latency = that time − the time the revoke call was started, on one machine clock
 * (`performance.timeOrigin + performance.now()` in every process). A fresh root key per round;
 * the first rounds warm up and are not counted. Goal: p99 < 50 ms.
 */

const WORKERS = 4;
const WARMUP_ROUNDS = 3;
const ROUNDS = 100;
const TARGET_P99_MS = 50;
/** After every worker has executed a call, wait this long (+ up to as much again, at random) to revoke. */
const SETTLE_MS = 5;
const MESSAGE_TIMEOUT_MS = 30_000;

const WORKER = fileURLToPath(new URL('./revoke-worker.ts', import.meta.url));

type Done = Extract<WorkerMessage, { type: 'done' }>;

/** A worker process and the JSON lines it has printed. */
class Worker {
  readonly child: ChildProcess;
  readonly #queue: WorkerMessage[] = [];
  readonly #waiters: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[] = [];
  #exited: Error | undefined;

  constructor(config: RevokeWorkerConfig) {
    this.child = spawn(
      process.execPath,
      ['--conditions=@spendguard/source', WORKER, JSON.stringify(config)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const message = JSON.parse(line) as WorkerMessage;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(message);
      else this.#queue.push(message);
    });
    this.child.once('exit', (code, signal) => {
      this.#exited = new Error(`revoke worker ${config.worker} exited (${code ?? signal})`);
      for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#exited);
    });
  }

  /** The next message, which must be of `type`. */
  async expect<T extends WorkerMessage['type']>(type: T): Promise<Extract<WorkerMessage, { type: T }>> {
    const queued = this.#queue.shift();
    const message =
      queued ??
      (await new Promise<WorkerMessage>((resolve, reject) => {
        if (this.#exited) return reject(this.#exited);
        const timer = setTimeout(
          () => reject(new Error(`no '${type}' from a revoke worker in time`)),
          MESSAGE_TIMEOUT_MS,
        );
        this.#waiters.push({
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      }));
    if (message.type !== type) {
      throw new Error(`revoke worker sent ${JSON.stringify(message)}, expected '${type}'`);
    }
    return message as Extract<WorkerMessage, { type: T }>;
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Ask it to exit; kill it if it does not within 5 s. Resolves to its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = once(this.child, 'exit');
    this.child.stdin?.end('exit\n');
    const timer = setTimeout(() => this.child.kill(), 5_000);
    const [code] = (await exited) as [number | null];
    clearTimeout(timer);
    return code;
  }
}

interface Backend {
  name: 'redis' | 'postgres';
  store: Store;
  worker: (worker: number) => RevokeWorkerConfig;
  cleanup: () => Promise<void>;
}

async function openRedis(): Promise<Backend> {
  const prefix = benchPrefix('revoke');
  const store = new RedisStore({ url: REDIS_URL, prefix });
  return {
    name: 'redis',
    store,
    worker: (worker) => ({ worker, store: { kind: 'redis', url: REDIS_URL, prefix } }),
    cleanup: async () => {
      const sweeper = new RedisStore({ url: REDIS_URL, prefix });
      try {
        await sweeper.clear();
      } finally {
        await sweeper.close();
      }
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const schema = benchSchema('revoke');
  const store = new PostgresStore({ url: POSTGRES_URL, schema, max: 5 });
  await store.migrate();
  return {
    name: 'postgres',
    store,
    worker: (worker) => ({ worker, store: { kind: 'postgres', url: POSTGRES_URL, schema } }),
    cleanup: async () => {
      const pool = barePool(POSTGRES_URL, 1);
      try {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}

interface Sample {
  /** deny − revoke start, ms. */
  latencyMs: number;
  /** deny − revoke returned, ms. */
  afterAckMs: number;
}

async function benchStore(open: () => Promise<Backend>): Promise<{ metrics: MetricRow[]; checks: Check[] }> {
  const backend = await open();
  const name = backend.name;
  const guard = createGuard({ policies: POLICIES, store: backend.store });
  const workers: Worker[] = [];
  const samples: Sample[] = [];
  const revokeMs: number[] = [];
  let revokedTrue = 0;
  let denials = 0;
  let cleanCutoffs = 0;
  let executedCalls = 0;
  let loopMs = 0;
  const other = new Map<string, number>();
  const exitCodes: (number | null)[] = [];
  try {
    for (let w = 0; w < WORKERS; w++) workers.push(new Worker(backend.worker(w)));
    await Promise.all(workers.map((w) => w.expect('ready')));

    for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
      const measured = round >= WARMUP_ROUNDS;
      const root = await guard.keys.issueRoot({ policy: 'billing', name: `revoke-${round}` });
      const order = JSON.stringify({ round, token: root.token });
      const ordered = wallMs();
      for (const w of workers) w.send(order);
      await Promise.all(workers.map((w) => w.expect('looping')));
      // Revoke at a random point in the workers' loops, not in step with their calls.
      await sleep(SETTLE_MS + Math.random() * SETTLE_MS);
      const revokeStart = wallMs();
      const revoked = await guard.keys.revoke(root.id);
      const revokeEnd = wallMs();
      const reports = await Promise.all(workers.map((w) => w.expect('done')));
      if (!measured) continue;
      if (revoked) revokedTrue++;
      revokeMs.push(revokeEnd - revokeStart);
      loopMs += revokeEnd - ordered;
      for (const report of reports as Done[]) {
        executedCalls += report.executed;
        for (const [label, n] of Object.entries(report.other)) other.set(label, (other.get(label) ?? 0) + n);
        if (report.deniedAt === null) continue;
        denials++;
        samples.push({ latencyMs: report.deniedAt - revokeStart, afterAckMs: report.deniedAt - revokeEnd });
        // Every call begun after the revocation returned must have been denied.
        if (report.lastExecutedStartedAt === null || report.lastExecutedStartedAt < revokeEnd) cleanCutoffs++;
      }
    }
  } finally {
    exitCodes.push(...(await Promise.all(workers.map((w) => w.stop()))));
    try {
      await guard.close();
    } finally {
      await backend.cleanup();
    }
  }

  const expected = ROUNDS * WORKERS;
  const ns = (ms: number[]) => Float64Array.from(ms, (v) => v * 1e6);
  const latency = summarize(ns(samples.map((s) => s.latencyMs)));
  const afterAck = summarize(ns(samples.map((s) => s.afterAckMs)));
  const revoke = summarize(ns(revokeMs));
  const p99 = latency.p99Us / 1000;
  const metrics: MetricRow[] = [
    {
      store: name,
      metric: 'revoke → key_revoked p50',
      value: latency.p50Us / 1000,
      unit: 'ms',
      target: null,
      meetsTarget: null,
      note: `${latency.calls} denials (${ROUNDS} revocations × ${WORKERS} workers)`,
    },
    {
      store: name,
      metric: 'revoke → key_revoked p99',
      value: p99,
      unit: 'ms',
      target: `< ${TARGET_P99_MS} ms`,
      meetsTarget: p99 < TARGET_P99_MS,
      note: 'deny returned − revoke call started',
    },
    {
      store: name,
      metric: 'revoke → key_revoked max',
      value: Math.max(...samples.map((s) => s.latencyMs)),
      unit: 'ms',
      target: null,
      meetsTarget: null,
      note: `mean ${(latency.meanUs / 1000).toFixed(2)} ms`,
    },
    {
      store: name,
      metric: 'revoke returned → key_revoked p50',
      value: afterAck.p50Us / 1000,
      unit: 'ms',
      target: null,
      meetsTarget: null,
      note: `p99 ${(afterAck.p99Us / 1000).toFixed(2)} ms; can be < 0`,
    },
    {
      store: name,
      metric: 'revoke call p50',
      value: revoke.p50Us / 1000,
      unit: 'ms',
      target: null,
      meetsTarget: null,
      note: `p99 ${(revoke.p99Us / 1000).toFixed(2)} ms, under the workers' load`,
    },
    {
      store: name,
      metric: 'workers: executed calls/s',
      value: executedCalls / (loopMs / 1000),
      unit: 'calls/s',
      target: null,
      meetsTarget: null,
      note: `all ${WORKERS} workers, order → revoke returned`,
    },
  ];
  const otherDetail = [...other].map(([label, n]) => `${label} × ${n}`).join(', ');
  const otherCount = [...other.values()].reduce((a, b) => a + b, 0);
  const checks: Check[] = [
    {
      name: `${name}: revocations acknowledged`,
      expected: ROUNDS,
      actual: revokedTrue,
      ok: revokedTrue === ROUNDS,
    },
    {
      name: `${name}: every worker denied key_revoked after every revocation`,
      expected,
      actual: denials,
      ok: denials === expected,
    },
    {
      name: `${name}: no call begun after the revocation returned was executed`,
      expected,
      actual: cleanCutoffs,
      ok: cleanCutoffs === expected,
    },
    {
      name: `${name}: worker calls were executed or key_revoked, nothing else`,
      expected: 0,
      actual: otherCount,
      ok: otherCount === 0,
      ...(otherDetail && { detail: otherDetail }),
    },
    {
      name: `${name}: workers exited cleanly`,
      expected: WORKERS,
      actual: exitCodes.filter((c) => c === 0).length,
      ok: exitCodes.filter((c) => c === 0).length === WORKERS,
    },
  ];
  return { metrics, checks };
}

export async function revokeLatency(): Promise<BenchResult> {
  const metrics: MetricRow[] = [];
  const checks: Check[] = [];
  for (const open of [openRedis, openPostgres]) {
    const result = await benchStore(open);
    metrics.push(...result.metrics);
    checks.push(...result.checks);
  }
  return {
    name: 'revoke-latency',
    title: `revoke → key_revoked across processes: ${WORKERS} worker processes calling back to back, the root key revoked from a fifth (ms)`,
    rows: [],
    metrics,
    checks,
  };
}
