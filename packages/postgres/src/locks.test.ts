import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditEntry, createGuard, type KeyRecord } from '@spendguard/core';
import type { BeginPlan, BeginResult, CapWindow } from '@spendguard/core/store-kit';
import { chargeAudit } from '@spendguard/core/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from './postgres-store.ts';
import { testSchemas } from './test-support.ts';

/**
 * The lock design of the step functions (functions.ts), pinned deterministically. Each step is
 * one statement: it takes its row locks in one order (checkpoint, key chain FOR SHARE, approval,
 * counters by id, audit head last) and holds them only while the server runs it and commits.
 *
 * A step is paused inside its statement by a third session holding a row it needs next: the key
 * row (FOR UPDATE) stops a begin after its checkpoint lock; an uncommitted insert of the alert
 * mark a begin is about to write stops it after its counter locks; the audit head stops a step
 * at its very end. pg_stat_activity then shows who waits on whom.
 */

const db = testSchemas();
const opened: PostgresStore[] = [];
/** A session of its own that only looks at pg_stat_activity. */
const observer = new pg.Client({ connectionString: db.url });
beforeAll(() => observer.connect());
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await observer.end();
  await db.dropAll();
});

const NOW = Date.parse('2026-11-24T12:00:00.000Z');
const KEY: KeyRecord = {
  id: 'key_locks',
  parentId: null,
  rootId: 'key_locks',
  chain: ['key_locks'],
  policy: 'p',
  narrowing: null,
  name: null,
  runId: null,
  createdAt: NOW,
  expiresAt: null,
  revokedAt: null,
};
const LIFETIME: CapWindow = {
  id: 'key_locks:life',
  keyId: KEY.id,
  label: 'key lifetime',
  capMicros: 10_000_000,
  alerts: [50],
  expiresAt: null,
};
const DAILY: CapWindow = {
  id: 'key_locks:day',
  keyId: KEY.id,
  label: 'daily',
  capMicros: 1_000_000_000,
  alerts: [],
  expiresAt: null,
};
const AUDIT: AuditEntry = chargeAudit(KEY.id, null, NOW);
/** The alert mark a reservation crossing half the lifetime cap writes. */
const HALF_MARK = `alert:${LIFETIME.id}:50`;

function plan(checkpointId: string, costMicros: number, windows: CapWindow[] = [LIFETIME]): BeginPlan {
  return {
    now: NOW,
    chain: KEY.chain,
    keyId: KEY.id,
    checkpointId,
    checkpointKey: checkpointId,
    fingerprint: 'fp',
    leaseMs: 60_000,
    dedupWindowMs: 60_000,
    vendorIdempotent: false,
    costMicros,
    windows,
    rates: [],
    approval: null,
    audit: AUDIT,
  };
}

/** Two stores on one fresh schema, as two processes; `application_name` tells their sessions apart. */
async function twoProcesses() {
  const schema = db.schema('sg_locks');
  const names = { first: `${schema}_first`, second: `${schema}_second` };
  const first = await db.store({ schema, applicationName: names.first });
  const second = await db.store({ schema, applicationName: names.second });
  opened.push(first, second);
  await first.insertKey(KEY);
  return { schema, names, first, second };
}

type Processes = Awaited<ReturnType<typeof twoProcesses>>;

/**
 * The pid of the session of `applicationName` that waits for a lock `holder` has, once there is
 * one. Bounded polling: fails after 3 s (below the store's 5 s statement timeout).
 */
async function waitingFor(applicationName: string, holder: number): Promise<number> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const { rows } = await observer.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND $2 = ANY(pg_blocking_pids(pid))',
      [applicationName, holder],
    );
    if (rows[0]) return rows[0].pid;
    if (Date.now() > deadline) throw new Error(`no session of ${applicationName} waited for ${holder}`);
    await sleep(5); // poll interval only: the loop, not the pause, decides
  }
}

/** A session of the test's own, in an open transaction, holding what `hold` takes; `release()` rolls back. */
async function holder(hold: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: db.url });
  client.on('error', () => {});
  await client.connect();
  await client.query('BEGIN');
  await client.query(hold, values);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return {
    pid: (rows[0] as { pid: number }).pid,
    release: async () => {
      try {
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Begins `firstPlan` in the first process and waits until it is paused by `pause` (a held row it
 * needs), holding the locks it took before; then begins `secondPlan` in the second process and
 * waits until that waits on the first; then lets the first go. Returns both answers.
 */
async function beginBoth(
  p: Processes,
  pause: { hold: string; values?: unknown[] },
  firstPlan: BeginPlan,
  secondPlan: BeginPlan,
) {
  const held = await holder(pause.hold, pause.values);
  const begun: Promise<BeginResult>[] = [];
  try {
    begun.push(p.first.begin(firstPlan));
    const firstPid = await waitingFor(p.names.first, held.pid);
    begun.push(p.second.begin(secondPlan));
    await waitingFor(p.names.second, firstPid);
    await held.release();
    const [first, second] = await Promise.all(begun);
    return { first: first as BeginResult, second: second as BeginResult };
  } finally {
    // After a failed check: ending the session rolls back, and the begins finish before the test does.
    await held.release().catch(() => {});
    await Promise.allSettled(begun);
  }
}

const keyRow = (p: Processes) => ({
  hold: `SELECT 1 FROM "${p.schema}".keys WHERE id = $1 FOR UPDATE`,
  values: [KEY.id],
});
const halfMark = (p: Processes) => ({
  hold: `INSERT INTO "${p.schema}".marks (id, expires_at) VALUES ($1, NULL)`,
  values: [HALF_MARK],
});

describe('postgres row locks of the step functions', () => {
  it('a duplicate first attempt waits on the claim the first holds on the new checkpoint id, then sees its attempt', async () => {
    const p = await twoProcesses();
    const { first, second } = await beginBoth(
      p,
      keyRow(p),
      plan('cp_new', 1_000_000),
      plan('cp_new', 1_000_000),
    );
    expect(first).toMatchObject({ kind: 'proceed', checkpoint: { generation: 1, fencingToken: 1 } });
    expect(second).toEqual({ kind: 'wait', checkpoint: (first as { checkpoint: unknown }).checkpoint });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(1_000_000);
  });

  it('a duplicate begin waits for the checkpoint row the first holds, then sees its attempt: wait, not a second one', async () => {
    const p = await twoProcesses();
    // A failed attempt leaves a committed checkpoint row: two processes then retry it at once.
    const failed = await p.first.begin(plan('cp_retry', 1_000_000));
    if (failed.kind !== 'proceed') throw new Error(`the setup begin answered ${failed.kind}`);
    await p.first.finish({
      now: NOW,
      checkpointId: 'cp_retry',
      fencingToken: failed.checkpoint.fencingToken,
      outcome: 'failed',
      audit: AUDIT,
    });
    const { first, second } = await beginBoth(
      p,
      keyRow(p),
      plan('cp_retry', 1_000_000),
      plan('cp_retry', 1_000_000),
    );
    expect(first).toMatchObject({ kind: 'proceed', checkpoint: { generation: 2, fencingToken: 2 } });
    expect(second).toEqual({ kind: 'wait', checkpoint: (first as { checkpoint: unknown }).checkpoint });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(1_000_000);
  });

  it('a begin waits for the counters another begin holds, then re-reads them: cap_exceeded, not a second reservation', async () => {
    const p = await twoProcesses();
    // Committed counter rows, so the second begin's insert finds them and only the lock can stop it.
    expect(await p.first.begin(plan('cp_setup', 1_000_000))).toMatchObject({ kind: 'proceed' });
    // 1 + 5 crosses half the cap of 10 (the held mark stops the first begin there, counters locked);
    // a second 5 only fits if it reads the counter before the first writes.
    const { first, second } = await beginBoth(
      p,
      halfMark(p),
      plan('cp_first', 5_000_000),
      plan('cp_second', 5_000_000),
    );
    expect(first).toMatchObject({ kind: 'proceed', alerts: [{ thresholdPercent: 50, usedUsd: 6 }] });
    expect(second).toMatchObject({ kind: 'denied', code: 'cap_exceeded' });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(6_000_000);
  });

  it('two begins listing the same windows in opposite orders: the second waits, no deadlock', async () => {
    const p = await twoProcesses();
    expect(await p.first.begin(plan('cp_setup', 1_000_000, [LIFETIME, DAILY]))).toMatchObject({
      kind: 'proceed',
    });
    // The first locks both counters in id order and pauses; the second, listing them the other
    // way round, still asks for them in id order, so it waits for the first instead of holding one.
    const { first, second } = await beginBoth(
      p,
      halfMark(p),
      plan('cp_ab', 4_000_000, [LIFETIME, DAILY]),
      plan('cp_ba', 1_000_000, [DAILY, LIFETIME]),
    );
    expect(first).toMatchObject({ kind: 'proceed' });
    expect(second).toMatchObject({ kind: 'proceed' });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(6_000_000);
    expect(await p.second.getCounter(DAILY.id)).toBe(6_000_000);
    // And under load: opposite orders, settlements that move the counters, no retry.
    const guardPlans = Array.from({ length: 60 }, (_, i) =>
      plan(`cp_load_${i}`, 10, i % 2 === 0 ? [LIFETIME, DAILY] : [DAILY, LIFETIME]),
    );
    await Promise.all(
      guardPlans.map(async (pl, i) => {
        const s = i % 2 === 0 ? p.first : p.second;
        const begun = await s.begin(pl);
        if (begun.kind !== 'proceed') throw new Error(`begin answered ${begun.kind}`);
        await s.finish({
          now: NOW,
          checkpointId: pl.checkpointId,
          fencingToken: begun.checkpoint.fencingToken,
          outcome: i % 3 === 0 ? 'failed' : 'completed',
          actualMicros: 7,
          audit: AUDIT,
        });
      }),
    );
    expect(p.first.stats.retries + p.second.stats.retries).toBe(0);
  });

  it('a revocation waits for a begin that read the key alive; the next begin sees it', async () => {
    const p = await twoProcesses();
    expect(await p.first.begin(plan('cp_setup', 1_000_000))).toMatchObject({ kind: 'proceed' });
    const held = await holder(halfMark(p).hold, halfMark(p).values);
    try {
      // Paused after its counter locks, the key row shared.
      const begun = p.first.begin(plan('cp_alive', 5_000_000));
      const firstPid = await waitingFor(p.names.first, held.pid);
      const revoked = p.second.revokeKey(KEY.id, NOW);
      await waitingFor(p.names.second, firstPid);
      await held.release();
      expect(await begun).toMatchObject({ kind: 'proceed' });
      expect(await revoked).toBe(true);
    } finally {
      await held.release().catch(() => {});
    }
    expect(await p.first.begin(plan('cp_after', 1_000_000))).toMatchObject({
      kind: 'denied',
      code: 'key_revoked',
    });
  });

  it('holds no lock while the client is away: between begin and finish, and after each step', async () => {
    const p = await twoProcesses();
    const guard = createGuard({
      policies: {
        policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: 100, perDay: 50 } } },
      },
      store: p.first,
    });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const charge = (order: string) => ({
      key: root.token,
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/charges',
      params: { amount: 500, currency: 'usd', order },
      cost: { amount: 5, currency: 'usd' },
    });
    /** Every row a step locks, taken at once by another session: NOWAIT fails if any is held. */
    const lockEverything = async () => {
      const s = `"${p.schema}"`;
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query('BEGIN');
        for (const table of ['checkpoints', 'counters', 'keys', 'audit_head', 'approvals']) {
          await client.query(`SELECT 1 FROM ${s}.${table} FOR UPDATE NOWAIT`);
        }
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
      const idle = await observer.query(
        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in transaction%'",
        [p.names.first],
      );
      expect(idle.rows).toEqual([]);
    };
    let during: Promise<void> | undefined;
    const d = await guard.execute(charge('o1'), async () => {
      during = lockEverything(); // while the vendor works, the call's rows are free
      await during;
      return { id: 'ch_1' };
    });
    expect(d.decision).toBe('executed');
    await during;
    await lockEverything();
    expect((await guard.execute(charge('o1'), async () => ({ id: 'x' }))).decision).toBe('replayed');
    await lockEverything();
    expect((await guard.execute(charge('o2'), async () => ({ id: 'ch_2' }), {})).decision).toBe('executed');
    expect(
      (await guard.execute({ ...charge('o3'), cost: { amount: 60, currency: 'usd' } }, async () => ({})))
        .code,
    ).toBe('cap_exceeded');
    await lockEverything();
  });

  it('takes the audit head last: a finish waiting for it holds only its own checkpoint', async () => {
    const p = await twoProcesses();
    const begun = await p.first.begin(plan('cp_a', 1_000_000));
    if (begun.kind !== 'proceed') throw new Error(`the setup begin answered ${begun.kind}`);
    const held = await holder(`SELECT 1 FROM "${p.schema}".audit_head FOR UPDATE`);
    try {
      // Settled at its reservation: no counter to move, so none is locked.
      const finishing = p.first.finish({
        now: NOW,
        checkpointId: 'cp_a',
        fencingToken: begun.checkpoint.fencingToken,
        outcome: 'completed',
        result: '{}',
        audit: AUDIT,
      });
      await waitingFor(p.names.first, held.pid);
      // The key's counters and other checkpoints are free: another call proceeds meanwhile.
      expect(await p.second.begin(plan('cp_b', 1_000_000))).toMatchObject({ kind: 'proceed' });
      // Its own checkpoint is not: a duplicate waits behind the finish.
      const duplicate = p.second.begin(plan('cp_a', 1_000_000));
      const finishPid = await waitingFor(p.names.first, held.pid);
      await waitingFor(p.names.second, finishPid);
      await held.release();
      expect(await finishing).toMatchObject({ ok: true });
      expect(await duplicate).toMatchObject({ kind: 'replay' });
    } finally {
      await held.release().catch(() => {});
    }
    expect(await p.second.getCounter(LIFETIME.id)).toBe(2_000_000);
  });
});
