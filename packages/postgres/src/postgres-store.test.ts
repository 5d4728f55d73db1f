import { inspect } from 'node:util';
import {
  type AuditEntry,
  type AuditQuery,
  type AuditRow,
  type CheckpointRecord,
  createGuard,
  type ExecuteDecision,
  type ExecuteRequest,
  type PolicyDocument,
  VendorCallError,
  verifyAuditChain,
} from '@spendguard/core';
import type { BeginPlan, FinishInput } from '@spendguard/core/store-kit';
import { chargeAudit, describeStoreConformance, testKeyRecord } from '@spendguard/core/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from './postgres-store.ts';
import { auditStatement, keysStatement, pruneStatement } from './queries.ts';
import { MIGRATIONS, type Tables, tables } from './schema.ts';
import { testSchemas } from './test-support.ts';

const db = testSchemas();
afterAll(() => db.dropAll());

describeStoreConformance('postgres', () => db.store(), {
  async tamperAudit(store, seq, how) {
    const audit = `"${(store as PostgresStore).schema}".audit`;
    if (how === 'delete') await db.sql(`DELETE FROM ${audit} WHERE seq = $1`, [seq]);
    else if (how === 'swap') {
      await db.sql(
        `UPDATE ${audit} a SET data = b.data FROM ${audit} b WHERE (a.seq, b.seq) IN (($1::bigint, $1 + 1), ($1 + 1, $1))`,
        [seq],
      );
    } else {
      const [row] = await db.sql<{ data: string }>(`SELECT data FROM ${audit} WHERE seq = $1`, [seq]);
      await db.sql(`UPDATE ${audit} SET data = $1 WHERE seq = $2`, [
        JSON.stringify({ ...JSON.parse(row?.data ?? '{}'), amount: 9999 }),
        seq,
      ]);
    }
  },
  async rewriteAudit(store, rows, head) {
    const schema = `"${(store as PostgresStore).schema}"`;
    await db.sql(`DELETE FROM ${schema}.audit`);
    await db.sql(
      `WITH added AS (INSERT INTO ${schema}.audit (seq, hash, data) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])) ` +
        `UPDATE ${schema}.audit_head SET seq = $4, hash = $5, anchor_seq = $6, anchor_hash = $7, anchor_hmac = $8`,
      [
        rows.map((r) => r.seq),
        rows.map((r) => r.hash),
        rows.map((r) => JSON.stringify(r)),
        head.seq,
        head.hash,
        head.anchor?.seq ?? null,
        head.anchor?.hash ?? null,
        head.anchor?.hmac ?? null,
      ],
    );
  },
});

const entry: AuditEntry = chargeAudit('key_a', 'k', 1_795_000_000_000);

/** The flight plan's call completed at T + 10, at $3 (it reserved $2). */
function flightSettled(T: number, fencingToken: number, audit: Partial<AuditEntry> = {}): FinishInput {
  return {
    now: T + 10,
    checkpointId: 'cp_flight',
    fencingToken,
    outcome: 'completed',
    actualMicros: 3_000_000,
    result: '{"id":"ch_1"}',
    audit: { ...entry, time: T + 10, ...audit },
  };
}

/**
 * SQL that copies what a store of an earlier version wrote in schema `from` into the tables `t`
 * (the upgrade tests); `audit` is how the audit rows are selected (their columns differ by version).
 */
function copiedRows(t: Tables, from: string, audit: string): string {
  return (
    `INSERT INTO ${t.audit} ${audit} FROM ${from}.audit; ` +
    `UPDATE ${t.auditHead} SET (seq, hash) = (SELECT seq, hash FROM ${from}.audit_head); ` +
    `INSERT INTO ${t.keys} (id, root_id, data) SELECT id, root_id, data FROM ${from}.keys; ` +
    `INSERT INTO ${t.counters} SELECT * FROM ${from}.counters; ` +
    `INSERT INTO ${t.checkpoints} SELECT * FROM ${from}.checkpoints`
  );
}

/** A call of key_a begun at T + 2 under checkpoint cp_flight, on its lifetime window: the upgrade tests' call in flight. */
function flightPlan(T: number, checkpointKey: string): BeginPlan {
  return {
    now: T + 2,
    chain: ['key_a'],
    keyId: 'key_a',
    checkpointId: 'cp_flight',
    checkpointKey,
    fingerprint: 'fp',
    leaseMs: 60_000,
    dedupWindowMs: 60_000,
    vendorIdempotent: true,
    costMicros: 2_000_000,
    windows: [
      {
        id: 'key_a:life',
        keyId: 'key_a',
        label: 'key lifetime',
        capMicros: null,
        alerts: [],
        expiresAt: null,
      },
    ],
    rates: [],
    approval: null,
    audit: { ...entry, time: T + 2 },
  };
}

/** A completed checkpoint as the stores write it. */
function checkpointOf(id: string, completedAt: number): CheckpointRecord {
  return {
    id,
    key: id,
    fingerprint: 'fp',
    state: 'completed',
    outcomeUnknown: false,
    generation: 3,
    fencingToken: 4,
    leaseUntil: completedAt,
    keyId: 'key_a',
    reservedMicros: 0,
    windows: [],
    startedAt: completedAt,
    completedAt,
    dedupWindowMs: 1000,
    result: 'null',
    actualMicros: 0,
    error: null,
    vendor: 'stripe',
    operation: 'POST /v1/charges',
  };
}

const POLICIES: PolicyDocument = {
  policies: { billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perKey: 100, perDay: 50 } } },
};

function charge(token: string, cents: number, order: string): ExecuteRequest {
  return {
    key: token,
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    params: { amount: cents, currency: 'usd', order },
    cost: { amount: cents / 100, currency: 'usd' },
  };
}

describe('postgres store', () => {
  it('migrates idempotently, also from several processes at once', async () => {
    const schema = db.schema();
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: db.url, schema, max: 1 }));
    const results = await Promise.all(stores.map((s) => s.migrate()));
    expect(results.filter((r) => r.from === 0)).toHaveLength(1);
    expect(results.every((r) => r.to === 6)).toBe(true);
    expect(await stores[0]?.migrate()).toEqual({ from: 6, to: 6 });
    const tables = await db.sql<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1',
      [schema],
    );
    expect(tables.map((t) => t.table_name)).toEqual([
      'approvals',
      'audit',
      'audit_head',
      'checkpoint_floor',
      'checkpoints',
      'counters',
      'keys',
      'marks',
      'migrations',
      'tokens',
    ]);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('upgrades a version 1 schema: its in-progress checkpoints are listed pending', async () => {
    const schema = db.schema();
    const t = tables(schema);
    const v1 = MIGRATIONS[0] as (t: Tables) => string;
    await db.sql(
      `CREATE SCHEMA "${schema}"; CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, ` +
        `applied_at timestamptz NOT NULL DEFAULT now()); ${v1(t)}; INSERT INTO ${t.migrations} (version) VALUES (1)`,
    );
    // Written by version 1: no vendor or operation yet, and strings Postgres's JSON functions refuse.
    const checkpoint = (id: string, state: CheckpointRecord['state'], startedAt: number) => ({
      id,
      key: 'order \u0000 "leaseUntil":1 é',
      fingerprint: 'fp',
      state,
      outcomeUnknown: state === 'in_progress',
      generation: 1,
      fencingToken: 1,
      leaseUntil: startedAt + 30_000,
      keyId: 'key_1',
      reservedMicros: 1_500_000,
      windows: ['key_1:life'],
      startedAt,
      completedAt: null,
      result: null,
      actualMicros: null,
      error: { message: 'socket hang up \u0000' },
    });
    const rows = [checkpoint('cp_b', 'in_progress', 2e12), checkpoint('cp_a', 'in_progress', 1.5e12)];
    for (const c of [...rows, checkpoint('cp_done', 'completed', 1e12)]) {
      await db.sql(
        `INSERT INTO ${t.checkpoints} (id, state, fencing_token, reserved_micros, windows, data) VALUES ($1, $2, 1, 0, '{}', $3)`,
        [c.id, c.state, JSON.stringify(c)],
      );
    }
    const store = new PostgresStore({ url: db.url, schema });
    expect(await store.migrate()).toEqual({ from: 1, to: 6 });
    expect(await store.listPending({ now: 0 })).toEqual([rows[1], rows[0]]);
    await store.close();
  });

  it('tells to migrate when the schema is missing, and refuses bad schema names', async () => {
    const store = new PostgresStore({ url: db.url, schema: db.schema() });
    await expect(store.getCounter('x')).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringContaining('store.migrate()'),
    });
    await store.close();
    expect(() => new PostgresStore({ url: db.url, schema: 'x"; DROP TABLE y; --' })).toThrow(
      /plain identifier/,
    );
    expect(() => new PostgresStore({ url: 'mysql://root@localhost/test' })).toThrow(/postgres:\/\//);
    expect(() => new PostgresStore({})).toThrow(/url/);
  });

  it('keeps schemas apart: two stores on one database share nothing', async () => {
    const a = await db.store();
    const b = await db.store();
    const guardA = createGuard({ policies: POLICIES, store: a });
    const root = await guardA.keys.issueRoot({ policy: 'billing' });
    expect((await guardA.execute(charge(root.token, 700, 'o1'), async () => ({ id: 'ch_1' }))).decision).toBe(
      'executed',
    );
    expect(await b.getKey(root.id)).toBeUndefined();
    expect(await b.readAudit()).toEqual([]);
    expect((await a.readAudit()).map((r) => r.code)).toEqual(['executed']);
    await guardA.close();
    await b.close();
  });

  it('begins and finishes in one statement each: two round trips per executed call, one per replay or denial', async () => {
    const store = await db.store();
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    await guard.execute(charge(root.token, 100, 'warm'), async () => ({ id: 'ch_0' })); // caches the key
    const measure = async <T>(fn: () => Promise<T>) => {
      const before = { ...store.stats };
      const value = await fn();
      return {
        value,
        roundTrips: store.stats.roundTrips - before.roundTrips,
        queries: store.stats.queries - before.queries,
        transactions: store.stats.transactions - before.transactions,
      };
    };
    const executed = await measure(() =>
      guard.execute(charge(root.token, 500, 'o1'), async () => ({ id: 'ch_1' })),
    );
    expect(executed.value.decision).toBe('executed');
    expect(executed).toMatchObject({ roundTrips: 2, queries: 2, transactions: 2 }); // begin 1 + finish 1
    const replayed = await measure(() =>
      guard.execute(charge(root.token, 500, 'o1'), async () => ({ id: 'ch_x' })),
    );
    expect(replayed.value.decision).toBe('replayed');
    expect(replayed).toMatchObject({ roundTrips: 1, queries: 1 });
    const capped = await measure(() =>
      guard.execute(charge(root.token, 5000, 'o2'), async () => ({ id: 'ch_2' })),
    );
    expect(capped.value.code).toBe('cap_exceeded');
    expect(capped).toMatchObject({ roundTrips: 1, queries: 1 });
    // A completion at another cost than reserved moves the counters in the same statement.
    const settled = await measure(() =>
      guard.execute(charge(root.token, 1000, 'o3'), async () => ({ id: 'ch_3' }), {
        settle: () => ({ cost: { amount: 7, currency: 'usd' } }),
      }),
    );
    expect(settled.value).toMatchObject({ decision: 'executed', actualCostUsd: 7 });
    expect(settled).toMatchObject({ roundTrips: 2, queries: 2 });
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(13);
    expect(store.stats.retries).toBe(0);
    await guard.close();
  });

  it('works on an existing pool without pipelining, and leaves that pool open on close', async () => {
    const schema = db.schema();
    const pool = new pg.Pool({ connectionString: db.url, max: 3 });
    const store = new PostgresStore({ pool, schema });
    await store.migrate();
    const guard = createGuard({ policies: POLICIES, store });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => guard.execute(charge(root.token, 300, `o${i}`), async () => ({}))),
    );
    // $3 each against the $50 daily cap: 16 fit.
    expect(decisions.filter((d) => d.decision === 'executed')).toHaveLength(16);
    expect((await guard.spend(root.id)).dayUsd).toBe(48);
    expect(store.stats.roundTrips).toBe(store.stats.queries); // no pipelining: one statement a trip
    await guard.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('never shows the password: not in errors, decisions or an inspected store', async () => {
    const password = 'hunter2-Very-Secret-pw';
    const url = `postgres://root:${password}@127.0.0.1:1/test`;
    const store = new PostgresStore({ url, connectionTimeoutMs: 500 });
    const guard = createGuard({ policies: POLICIES, store });
    const failure = await store.getKey('key_1').catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'store_unavailable' });
    const issued = await guard.keys.issueRoot({ policy: 'billing' }).catch((error: unknown) => error);
    const dump = [
      inspect(failure, { depth: 5 }),
      inspect(issued, { depth: 5 }),
      inspect(store, { depth: 5, showHidden: true }),
      JSON.stringify(store),
      String((failure as Error).stack),
    ].join('\n');
    expect(dump).not.toContain(password);
    expect(dump).toContain('127.0.0.1:1/test');
    await guard.close();
  });

  it('prune({ now }) also drops ended counters and marks, and reports them with the rest', async () => {
    const store = await db.store();
    const guard = createGuard({
      policies: {
        policies: {
          billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perHour: 10 }, alerts: [50] },
        },
      },
      store,
      now: () => Date.parse('2020-01-01T10:30:00Z'),
    });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    await guard.execute(charge(root.token, 600, 'o1'), async () => ({}));
    expect(await store.prune({ now: Date.parse('2020-01-01T11:00:01Z') })).toEqual({
      tokens: 0,
      checkpoints: 0,
      approvals: 0,
      counters: 1,
      marks: 1,
    });
    await guard.close();
  });

  it('answers every filter, key listing and prune through an index (seq scans off, none needed)', async () => {
    const store = await db.store();
    const t = tables(store.schema);
    const statements = [
      auditStatement(t, { keyId: 'key_a', afterSeq: 5, limit: 10 }),
      auditStatement(t, { rootKeyId: 'key_a', limit: 10 }),
      auditStatement(t, { runId: 'run-1', beforeSeq: 100, limit: 10 }),
      auditStatement(t, { decision: ['denied', 'failed'], limit: 10 }),
      auditStatement(t, { fromTime: 1, toTime: 2 }),
      keysStatement(t, { rootId: 'key_a', afterId: 'key_b', limit: 10 }),
      keysStatement(t, { parentId: 'key_a' }),
      keysStatement(t, { parentId: null }),
      keysStatement(t, { runId: 'run-1', state: 'active', now: 1 }),
      pruneStatement(t, { now: 1, approvalsOlderThanMs: 1 }),
    ];
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      for (const { text, values } of statements) {
        const plan = (await client.query(`EXPLAIN ${text}`, values)).rows
          .map((r) => r['QUERY PLAN'])
          .join('\n');
        // Tokens are pruned by reading them all (each looked up by its key): the one scan allowed.
        expect(plan.replace(/Seq Scan on tokens tk/, '')).not.toMatch(/Seq Scan/);
      }
    } finally {
      await client.end();
    }
    await store.close();
  });

  it('upgrades a version 2 schema: old audit rows are filtered by index, old settled checkpoints kept', async () => {
    const schema = db.schema();
    const t = tables(schema);
    const [v1, v2] = MIGRATIONS as [(t: Tables) => string, (t: Tables) => string];
    await db.sql(
      `CREATE SCHEMA "${schema}"; CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, ` +
        `applied_at timestamptz NOT NULL DEFAULT now()); ${v1(t)}; ${v2(t)}; ` +
        `INSERT INTO ${t.migrations} (version) VALUES (1), (2)`,
    );
    const before = await db.store({ schema: db.schema() }); // writes rows exactly as version 2 did
    for (const keyId of ['key_a', 'key_b', 'key_a']) {
      await before.appendAudit({ ...entry, keyId, message: 'nul \u0000 "keyId":"key_b"' });
    }
    await db.sql(
      `INSERT INTO ${t.audit} (seq, hash, data) SELECT seq, hash, data FROM "${before.schema}".audit; ` +
        `UPDATE ${t.auditHead} SET (seq, hash) = (SELECT seq, hash FROM "${before.schema}".audit_head)`,
    );
    await before.close();
    const { dedupWindowMs: _none, ...settled } = checkpointOf('cp_old', 1_000);
    await db.sql(
      `INSERT INTO ${t.checkpoints} (id, state, fencing_token, reserved_micros, windows, data) VALUES ($1, 'completed', 4, 0, '{}', $2)`,
      ['cp_old', JSON.stringify(settled)],
    );
    const store = new PostgresStore({ url: db.url, schema });
    expect(await store.migrate()).toEqual({ from: 2, to: 6 });
    expect((await store.readAudit({ keyId: 'key_a' })).map((r) => r.seq)).toEqual([1, 3]);
    expect((await store.readAudit({ keyId: 'key_b' })).map((r) => r.seq)).toEqual([2]);
    expect(await store.prune({ now: 1e15 })).toMatchObject({ checkpoints: 0 });
    expect(await store.getCheckpoint('cp_old')).toEqual(settled);
    await store.close();
  });

  it('upgrades a version 3 schema: calls in flight across the upgrade settle, replay and get their verdict', async () => {
    const schema = db.schema();
    const t = tables(schema);
    const [v1, v2, v3] = MIGRATIONS as [(t: Tables) => string, (t: Tables) => string, (t: Tables) => string];
    await db.sql(
      `CREATE SCHEMA "${schema}"; CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, ` +
        `applied_at timestamptz NOT NULL DEFAULT now()); ${v1(t)}; ${v2(t)}; ${v3(t)}; ` +
        `INSERT INTO ${t.migrations} (version) VALUES (1), (2), (3)`,
    );
    const T = 1_795_000_000_000;
    // Rows as version 3 wrote them: records in core's field order, strings Postgres's JSON refuses.
    const inFlight: CheckpointRecord = {
      ...checkpointOf('cp_flight', T),
      key: 'order \u0000 "state":"completed" é',
      state: 'in_progress',
      completedAt: null,
      result: null,
      actualMicros: null,
      reservedMicros: 5_000_000,
      windows: ['key_a:life'],
      fencingToken: 1,
      generation: 1,
      leaseUntil: T + 60_000,
      error: { message: 'socket hang up \u0000', status: 504 },
      outcomeUnknown: true,
    };
    const settled = { ...checkpointOf('cp_done', T), actualMicros: 2_000_000, reservedMicros: 2_000_000 };
    const approval = {
      id: 'apr_1',
      checkpointId: 'cp_apr',
      keyId: 'key_a',
      vendor: 'stripe',
      operation: 'POST /v1/refunds',
      costMicros: 1_000_000,
      fingerprint: 'fp',
      account: null,
      ttlMs: 60_000,
      createdAt: T,
      state: 'pending',
      decidedAt: null,
      decidedBy: null,
      reason: null,
      usedAt: null,
    };
    for (const c of [inFlight, settled]) {
      await db.sql(
        `INSERT INTO ${t.checkpoints} (id, state, fencing_token, reserved_micros, windows, outcome_unknown, lease_until, started_at, data) ` +
          'VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [
          c.id,
          c.state,
          c.fencingToken,
          c.reservedMicros,
          c.windows,
          c.outcomeUnknown,
          c.leaseUntil,
          c.startedAt,
          JSON.stringify(c),
        ],
      );
    }
    await db.sql(`INSERT INTO ${t.counters} (id, value) VALUES ('key_a:life', 5000000)`);
    await db.sql(`INSERT INTO ${t.approvals} (id, data) VALUES ('apr_1', $1)`, [JSON.stringify(approval)]);
    const before = await db.store({ schema: db.schema() }); // the chain's first row, as it was written
    const first = await before.appendAudit(entry);
    await before.close();
    await db.sql(`INSERT INTO ${t.audit} (seq, hash, data) VALUES ($1, $2, $3)`, [
      first.seq,
      first.hash,
      JSON.stringify(first),
    ]);
    await db.sql(`UPDATE ${t.auditHead} SET seq = $1, hash = $2`, [first.seq, first.hash]);

    const store = new PostgresStore({ url: db.url, schema });
    // The step functions are not there before migrate(): the step says so, nothing is written.
    await expect(store.appendAudit(entry)).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringContaining('store.migrate()'),
    });
    expect(await store.migrate()).toEqual({ from: 3, to: 6 });
    // The call in flight settles at another cost than it reserved.
    const done = await store.finish({
      now: T + 1000,
      checkpointId: 'cp_flight',
      fencingToken: 1,
      outcome: 'completed',
      actualMicros: 3_000_000,
      result: '{"id":"ch_1"}',
      audit: entry,
    });
    expect(done).toMatchObject({ ok: true, audit: { seq: 2, prevHash: first.hash } });
    expect(await store.getCounter('key_a:life')).toBe(3_000_000);
    expect(await store.getCheckpoint('cp_flight')).toEqual({
      ...inFlight,
      state: 'completed',
      outcomeUnknown: false,
      completedAt: T + 1000,
      result: '{"id":"ch_1"}',
      actualMicros: 3_000_000,
      reservedMicros: 3_000_000,
      error: null,
    });
    const replay = (id: string, key: string) =>
      store.begin({
        now: T + 1100,
        chain: ['key_a'],
        keyId: 'key_a',
        checkpointId: id,
        checkpointKey: key,
        fingerprint: 'fp',
        leaseMs: 1000,
        dedupWindowMs: 60_000,
        vendorIdempotent: true,
        costMicros: 0,
        windows: [],
        rates: [],
        approval: null,
        audit: entry,
      });
    await store.insertKey(testKeyRecord('key_a', null, { createdAt: T }));
    expect(await replay('cp_flight', inFlight.key)).toEqual({
      kind: 'replay',
      checkpoint: await store.getCheckpoint('cp_flight'),
    });
    expect(await replay('cp_done', 'cp_done')).toEqual({ kind: 'replay', checkpoint: settled });
    const decided = await store.decideApproval({
      id: 'apr_1',
      verdict: 'approved',
      by: 'ops',
      reason: null,
      now: T + 1200,
      audit: (a) => ({ ...entry, keyId: a.keyId, decision: 'approved', code: 'approval_granted' }),
    });
    // Written by version 3, before approvals named a recipient: read back with none.
    expect(decided).toEqual({
      ...approval,
      recipient: null,
      state: 'approved',
      decidedAt: T + 1200,
      decidedBy: 'ops',
    });
    expect(await store.getApproval('apr_1')).toEqual(decided);
    const rows = await store.readAudit();
    expect(rows.map((r) => [r.seq, r.code])).toEqual([
      [1, 'executed'],
      [2, 'executed'],
      [3, 'replayed'],
      [4, 'replayed'],
      [5, 'approval_granted'],
    ]);
    expect(verifyAuditChain(rows, await store.auditHead())).toEqual({ ok: true, rows: 5 });
    await store.close();
  });

  it('upgrades a version 4 schema: old audit rows are found by the new columns, the chain and calls in flight go on', async () => {
    const schema = db.schema();
    const t = tables(schema);
    const [v1, v2, v3, v4] = MIGRATIONS as [...((t: Tables) => string)[]] as [
      (t: Tables) => string,
      (t: Tables) => string,
      (t: Tables) => string,
      (t: Tables) => string,
    ];
    await db.sql(
      `CREATE SCHEMA "${schema}"; CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, ` +
        `applied_at timestamptz NOT NULL DEFAULT now()); ${v1(t)}; ${v2(t)}; ${v3(t)}; ${v4(t)}; ` +
        `INSERT INTO ${t.migrations} (version) VALUES (1), (2), (3), (4)`,
    );
    const T = 1_795_000_000_000;
    // Rows as version 4 wrote them (seq, hash, data: the tables of version 3), made by a store
    // elsewhere: a chain of three, and a call begun, not yet settled.
    const before = await db.store({ schema: db.schema() });
    await before.insertKey(testKeyRecord('key_a', null, { createdAt: T }));
    await before.appendAudit({ ...entry, time: T, message: 'nul \u0000 "keyId":"key_b"' });
    await before.appendAudit({ ...entry, time: T + 1, keyId: 'key_b', runId: 'run-1', decision: 'denied' });
    const plan = flightPlan(T, 'order "state":"completed" é');
    const begun = await before.begin(plan);
    if (begun.kind !== 'proceed') throw new Error(`the setup begin answered ${begun.kind}`);
    await before.appendAudit({ ...entry, time: T + 3 });
    const from = `"${before.schema}"`;
    await db.sql(copiedRows(t, from, '(seq, hash, data) SELECT seq, hash, data'));
    await before.close();

    const store = new PostgresStore({ url: db.url, schema });
    expect(await store.migrate()).toEqual({ from: 4, to: 6 });
    const seqs = async (query: AuditQuery) => (await store.readAudit(query)).map((r) => r.seq);
    expect(await seqs({ keyId: 'key_a' })).toEqual([1, 3]);
    expect(await seqs({ keyId: 'key_b' })).toEqual([2]);
    expect(await seqs({ rootKeyId: 'key_a' })).toEqual([1, 2, 3]);
    expect(await seqs({ runId: 'run-1' })).toEqual([2]);
    expect(await seqs({ decision: 'denied' })).toEqual([2]);
    expect(await seqs({ fromTime: T + 1, toTime: T + 3 })).toEqual([2]);
    // The call in flight settles at another cost: the counter moves, the chain goes on.
    const done = await store.finish(flightSettled(T, begun.checkpoint.fencingToken, { runId: 'run-1' }));
    const third = (await store.readAudit({ afterSeq: 2 }))[0] as AuditRow;
    expect(done).toMatchObject({ ok: true, audit: { seq: 4, prevHash: third.hash } });
    expect(await store.getCounter('key_a:life')).toBe(3_000_000);
    expect(await seqs({ runId: 'run-1' })).toEqual([2, 4]);
    expect(await store.begin({ ...plan, now: T + 20 })).toMatchObject({ kind: 'replay' });
    expect(verifyAuditChain(await store.readAudit(), await store.auditHead())).toEqual({ ok: true, rows: 5 });
    // A row written without the columns (by a process of version 3, or a restore) gets them.
    await db.sql(
      `INSERT INTO ${t.audit} (seq, hash, data) SELECT 100, hash, replace(data, '{"seq":2,', '{"seq":100,') ` +
        `FROM ${t.audit} WHERE seq = 2`,
    );
    expect(await seqs({ keyId: 'key_b' })).toEqual([2, 100]);
    // And a row edited in place is found by what it now says (verify tells it was edited).
    await db.sql(`UPDATE ${t.audit} SET data = replace(data, '"key_b"', '"key_c"') WHERE seq = 100`);
    expect(await seqs({ keyId: 'key_b' })).toEqual([2]);
    expect(await seqs({ keyId: 'key_c' })).toEqual([100]);
    await store.close();
  });

  it('upgrades a version 5 schema: the head learns the hash before it, calls in flight settle and replay', async () => {
    const schema = db.schema();
    const t = tables(schema);
    const upTo5 = MIGRATIONS.slice(0, 5).map((m) => m(t));
    await db.sql(
      `CREATE SCHEMA "${schema}"; CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, ` +
        `applied_at timestamptz NOT NULL DEFAULT now()); ${upTo5.join(';\n')}; ` +
        `INSERT INTO ${t.migrations} (version) VALUES (1), (2), (3), (4), (5)`,
    );
    const T = 1_795_000_000_000;
    // Rows as version 5 wrote them (the same rows; a head without prev_hash), made by a store
    // elsewhere: a chain of two, and a call begun, not yet settled.
    const before = await db.store({ schema: db.schema() });
    await before.insertKey(testKeyRecord('key_a', null, { createdAt: T }));
    await before.appendAudit({ ...entry, time: T });
    const plan = flightPlan(T, 'order');
    const begun = await before.begin(plan);
    if (begun.kind !== 'proceed') throw new Error(`the setup begin answered ${begun.kind}`);
    const second = await before.appendAudit({ ...entry, time: T + 3 });
    const from = `"${before.schema}"`;
    await db.sql(copiedRows(t, from, 'SELECT *'));
    await before.close();

    const store = new PostgresStore({ url: db.url, schema });
    expect(await store.migrate()).toEqual({ from: 5, to: 6 });
    const done = await store.finish(flightSettled(T, begun.checkpoint.fencingToken));
    expect(done).toMatchObject({ ok: true, audit: { seq: 3, prevHash: second.hash } });
    expect(await store.getCounter('key_a:life')).toBe(3_000_000);
    expect(await store.begin({ ...plan, now: T + 20 })).toMatchObject({ kind: 'replay' });
    // A new checkpoint is claimed and inserted whole; a denied one leaves no row.
    expect(await store.begin({ ...plan, checkpointId: 'cp_new', now: T + 21 })).toMatchObject({
      kind: 'proceed',
      checkpoint: { generation: 1, fencingToken: 1 },
    });
    const denied = await store.begin({ ...plan, checkpointId: 'cp_denied', chain: ['key_x'], now: T + 22 });
    expect(denied).toMatchObject({ kind: 'denied', code: 'key_revoked' });
    expect(await db.sql(`SELECT id FROM ${t.checkpoints} ORDER BY id`)).toEqual([
      { id: 'cp_flight' },
      { id: 'cp_new' },
    ]);
    expect(verifyAuditChain(await store.readAudit(), await store.auditHead())).toEqual({ ok: true, rows: 5 });
    await store.close();
  });

  it('prunes counters and alert marks of windows that ended', async () => {
    const store = await db.store();
    const guard = createGuard({
      policies: {
        policies: {
          billing: { stripe: { allow: ['POST /v1/charges'] }, caps: { perHour: 10 }, alerts: [50] },
        },
      },
      store,
      now: () => Date.parse('2020-01-01T10:30:00Z'),
    });
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    await guard.execute(charge(root.token, 600, 'o1'), async () => ({}));
    expect((await guard.spend(root.id)).hourUsd).toBe(6);
    expect(await store.prune(Date.parse('2020-01-01T10:59:00Z'))).toEqual({ counters: 0, marks: 0 });
    expect(await store.prune(Date.parse('2020-01-01T11:00:01Z'))).toEqual({ counters: 1, marks: 1 });
    expect((await guard.spend(root.id)).lifetimeUsd).toBe(6); // the lifetime counter never expires
    await guard.close();
  });

  it('mixed concurrent load on derived keys: no deadlock, no retry, every cent accounted for', async () => {
    const store = await db.store({ max: 10 });
    const guard = createGuard({
      policies: {
        policies: {
          billing: {
            stripe: { allow: ['POST /v1/charges'] },
            caps: { perDay: 400, perRun: 40, perHour: 1000 },
            alerts: [50, 90],
            rate: { perMinute: 100_000 },
            approval: { above: 35 },
          },
        },
      },
      store,
      leaseMs: 60_000,
    });
    const [before] = await db.sql<{ deadlocks: number }>(
      'SELECT deadlocks::int FROM pg_stat_database WHERE datname = current_database()',
    );
    const root = await guard.keys.issueRoot({ policy: 'billing' });
    const runs = await Promise.all(
      Array.from({ length: 6 }, (_, i) => guard.keys.derive(root.token, { runId: `run-${i}` })),
    );
    const agents = await Promise.all(runs.map((run) => guard.keys.derive(run.token, { name: 'sub' })));
    const tokens = [root.token, ...runs.map((r) => r.token), ...agents.map((a) => a.token)];
    let n = 0;
    const calls: Promise<ExecuteDecision<unknown>>[] = [];
    for (let i = 0; i < 400; i++) {
      const token = tokens[i % tokens.length] as string;
      const cents = 100 + (i % 7) * 50;
      const order = i % 5 === 0 ? 'dup' : `o${i}`; // duplicates share a checkpoint across keys
      const kind = i % 11;
      if (kind === 3) {
        calls.push(guard.execute({ ...charge(token, cents, order), path: '/v1/payouts' }, async () => ({})));
      } else if (kind === 5) {
        calls.push(
          guard.execute(charge(token, cents, order), async () => {
            throw new VendorCallError('declined', { outcome: 'failed', status: 402 });
          }),
        );
      } else if (kind === 7) {
        calls.push(
          guard.execute(charge(token, cents, order), async () => {
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          }),
        );
      } else {
        calls.push(guard.execute(charge(token, cents, order), async () => ({ id: `ch_${n++}` })));
      }
      if (i === 200) calls.push(guard.keys.revoke(runs[2]?.id as string).then(() => ({}) as never));
      if (i === 300) calls.push(guard.execute(charge(root.token, 3900, 'big'), async () => ({})));
    }
    const decisions = (await Promise.all(calls)).filter((d) => d && 'decision' in d);
    const [after] = await db.sql<{ deadlocks: number }>(
      'SELECT deadlocks::int FROM pg_stat_database WHERE datname = current_database()',
    );
    expect(decisions.filter((d) => d.code === 'store_unavailable')).toEqual([]);
    expect(after?.deadlocks).toBe(before?.deadlocks);
    expect(store.stats.retries).toBe(0);
    // The root's day window holds what ran plus what is reserved for unknown outcomes, exactly.
    const micros = (usd: number) => Math.round(usd * 1e6);
    const settled = decisions
      .filter((d) => d.decision === 'executed')
      .reduce((sum, d) => sum + micros(d.actualCostUsd ?? 0), 0);
    const unknown = decisions
      .filter((d) => d.code === 'outcome_unknown' && d.decision === 'failed')
      .reduce((sum, d) => sum + micros(d.estimatedCostUsd ?? 0), 0);
    expect(micros((await guard.spend(root.id)).dayUsd)).toBe(settled + unknown);
    expect(settled + unknown).toBeLessThanOrEqual(micros(400));
    expect(decisions.some((d) => d.code === 'cap_exceeded')).toBe(true);
    expect(decisions.some((d) => d.code === 'key_revoked')).toBe(true);
    expect(decisions.some((d) => d.decision === 'needs_approval')).toBe(true);
    expect(await guard.audit.verify()).toMatchObject({ ok: true });
    await guard.close();
  });
});
