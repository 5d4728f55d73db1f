import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { chainAudit, verifyAuditChain } from '../audit-chain.ts';
import { createGuard } from '../guard.ts';
import type { AuditEntry, AuditRow } from '../store.ts';
import { describeStoreConformance } from '../testing/conformance.ts';
import { SqliteStore } from './sqlite-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'spendguard-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const auditEntry: AuditEntry = {
  time: 1_795_000_000_000,
  keyId: 'key_1',
  rootKeyId: 'key_1',
  runId: null,
  agentId: null,
  toolCallId: null,
  vendor: 'stripe',
  operation: 'POST /v1/refunds',
  idempotencyKey: 'k',
  decision: 'executed',
  code: 'executed',
  message: null,
  estimatedCostUsd: 1,
  actualCostUsd: 1,
  actualCostIsEstimate: false,
  amount: 1,
  currency: 'usd',
  upstreamStatus: 200,
  upstreamObjectId: 're_1',
  latencyMs: 1,
  traceId: null,
};

describeStoreConformance('sqlite', () => new SqliteStore({ file: join(dir, `store-${n++}.db`) }), {
  async tamperAudit(store, seq, how) {
    const db = new DatabaseSync((store as SqliteStore).file);
    const dataOf = (at: number) =>
      (db.prepare('SELECT data FROM sg_audit WHERE seq = ?').get(at) as { data: string }).data;
    const setData = (at: number, data: string) =>
      db.prepare('UPDATE sg_audit SET data = ? WHERE seq = ?').run(data, at);
    if (how === 'delete') db.prepare('DELETE FROM sg_audit WHERE seq = ?').run(seq);
    else if (how === 'swap') {
      const [a, b] = [dataOf(seq), dataOf(seq + 1)];
      setData(seq, b);
      setData(seq + 1, a);
    } else setData(seq, JSON.stringify({ ...JSON.parse(dataOf(seq)), amount: 9999 }));
    db.close();
  },
  async rewriteAudit(store, rows, head) {
    const db = new DatabaseSync((store as SqliteStore).file);
    db.exec('BEGIN; DELETE FROM sg_audit');
    for (const row of rows) {
      db.prepare('INSERT INTO sg_audit (seq, hash, data) VALUES (?, ?, ?)').run(
        row.seq,
        row.hash,
        JSON.stringify(row),
      );
    }
    db.prepare(
      'UPDATE sg_audit_head SET seq = ?, hash = ?, anchor_seq = ?, anchor_hash = ?, anchor_hmac = ? WHERE id = 1',
    ).run(
      head.seq,
      head.hash,
      head.anchor?.seq ?? null,
      head.anchor?.hash ?? null,
      head.anchor?.hmac ?? null,
    );
    db.exec('COMMIT');
    db.close();
  },
});

describe('sqlite audit head', () => {
  it('takes the newest row of a file from before the head, once: a head deleted later stays missing', async () => {
    const file = join(dir, 'before-head.db');
    const rows: AuditRow[] = [];
    for (let i = 0; i < 3; i++) rows.push(chainAudit({ ...auditEntry, code: `c${i}` }, rows.at(-1)));
    const old = new DatabaseSync(file);
    old.exec('CREATE TABLE sg_audit (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, data TEXT NOT NULL)');
    for (const row of rows) {
      old.prepare('INSERT INTO sg_audit VALUES (?, ?, ?)').run(row.seq, row.hash, JSON.stringify(row));
    }
    old.close();

    const store = new SqliteStore({ file });
    expect(await store.auditHead()).toEqual({ seq: 3, hash: rows[2]?.hash, anchor: null });
    expect(await store.appendAudit(auditEntry)).toMatchObject({ seq: 4, prevHash: rows[2]?.hash });
    // The old rows got the indexed columns too: a filtered read finds them and the new one.
    const byKey = await store.readAudit({ keyId: auditEntry.keyId as string, decision: auditEntry.decision });
    expect(byKey.map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await store.readAudit({ keyId: 'someone-else' })).toEqual([]);
    await store.close();

    const db = new DatabaseSync(file);
    db.exec('DELETE FROM sg_audit_head');
    db.close();
    const reopened = new SqliteStore({ file });
    expect(await reopened.auditHead()).toBeUndefined();
    expect(verifyAuditChain(await reopened.readAudit(), await reopened.auditHead())).toMatchObject({
      ok: false,
      problem: 'head_missing',
    });
    await reopened.close();
  });
});

describe('sqlite file contents', () => {
  it('holds only hashes of vault tokens, never a token or its secret', async () => {
    const file = join(dir, 'tokens.db');
    const store = new SqliteStore({ file });
    const guard = createGuard({
      policies: { policies: { p: { stripe: { allow: ['POST /v1/refunds'] } } } },
      store,
    });
    const root = await guard.keys.issueRoot({ policy: 'p' });
    const run = await guard.keys.derive(root.token, { runId: 'r' });
    await guard.execute(
      { key: run.token, vendor: 'stripe', method: 'POST', path: '/v1/refunds', params: { charge: 'ch_1' } },
      async () => ({ id: 're_1' }),
    );
    const bytes = Buffer.concat(
      [file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)),
    ).toString('latin1');
    expect(bytes).toContain(root.id); // the file really is the store we wrote to
    for (const token of [root.token, run.token]) {
      expect(bytes).not.toContain(token);
      expect(bytes).not.toContain(token.slice(-48)); // the secret part
    }
    await guard.close();
  });
});
