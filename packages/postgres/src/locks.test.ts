import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry, KeyRecord } from '@spendguard/core';
import type { BeginPlan, BeginResult, CapWindow } from '@spendguard/core/store-kit';
import { chargeAudit } from '@spendguard/core/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from './postgres-store.ts';
import { testSchemas } from './test-support.ts';

/**
 * Two processes begin at once: the second must wait for the first's row locks and then decide
 * on what the first wrote. Made deterministic by pausing the first begin between its locking
 * reads and its write: begin locks the checkpoint row, then the counter rows, then reads the key
 * chain FOR SHARE; another session holding the key row FOR UPDATE stops it right there, with
 * its checkpoint and counter locks held. The test watches pg_stat_activity for who waits on whom.
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
  alerts: [],
  expiresAt: null,
};
const AUDIT: AuditEntry = chargeAudit(KEY.id, null, NOW);

function plan(checkpointId: string, costMicros: number): BeginPlan {
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
    windows: [LIFETIME],
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

/**
 * Begins `firstPlan` in the first process and waits until it is paused on the key row, holding
 * its checkpoint and counter locks; then begins `secondPlan` in the second process and waits
 * until that waits on the first; then lets the first go. Returns both answers.
 */
async function beginBoth(p: Processes, firstPlan: BeginPlan, secondPlan: BeginPlan) {
  const keyRow = new pg.Client({ connectionString: db.url });
  await keyRow.connect();
  const begun: Promise<BeginResult>[] = [];
  try {
    await keyRow.query('BEGIN');
    await keyRow.query(`SELECT 1 FROM "${p.schema}".keys WHERE id = $1 FOR UPDATE`, [KEY.id]);
    const { rows } = await keyRow.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    begun.push(p.first.begin(firstPlan));
    const firstPid = await waitingFor(p.names.first, (rows[0] as { pid: number }).pid);
    begun.push(p.second.begin(secondPlan));
    await waitingFor(p.names.second, firstPid);
    await keyRow.query('COMMIT');
    const [first, second] = await Promise.all(begun);
    return { first: first as BeginResult, second: second as BeginResult };
  } finally {
    // After a failed check: ending the session rolls back, and the begins finish before the test does.
    await keyRow.end();
    await Promise.allSettled(begun);
  }
}

describe('postgres row locks between concurrent begins', () => {
  it('a begin waits for the counters another holds, then re-reads them: cap_exceeded, not a second reservation', async () => {
    const p = await twoProcesses();
    // Committed counter rows, so the second begin's insert finds them and only the lock can stop it.
    expect(await p.first.begin(plan('cp_setup', 1_000_000))).toMatchObject({ kind: 'proceed' });
    // 1 + 5 fits the cap of 10; a second 5 only fits if it reads the counter before the first writes.
    const { first, second } = await beginBoth(p, plan('cp_first', 5_000_000), plan('cp_second', 5_000_000));
    expect(first).toMatchObject({ kind: 'proceed' });
    expect(second).toMatchObject({ kind: 'denied', code: 'cap_exceeded' });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(6_000_000);
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
    const { first, second } = await beginBoth(p, plan('cp_retry', 1_000_000), plan('cp_retry', 1_000_000));
    expect(first).toMatchObject({ kind: 'proceed', checkpoint: { generation: 2, fencingToken: 2 } });
    expect(second).toEqual({ kind: 'wait', checkpoint: (first as { checkpoint: unknown }).checkpoint });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(1_000_000);
  });

  it('a duplicate first attempt waits on the lock-only checkpoint row the first inserted, then sees its attempt', async () => {
    const p = await twoProcesses();
    const { first, second } = await beginBoth(p, plan('cp_new', 1_000_000), plan('cp_new', 1_000_000));
    expect(first).toMatchObject({ kind: 'proceed', checkpoint: { generation: 1, fencingToken: 1 } });
    expect(second).toEqual({ kind: 'wait', checkpoint: (first as { checkpoint: unknown }).checkpoint });
    expect(await p.second.getCounter(LIFETIME.id)).toBe(1_000_000);
  });
});
