import { describe, expect, it } from 'vitest';
import { chainAudit, GENESIS_HASH, verifyAuditRows } from './audit-chain.ts';
import type { AuditEntry, AuditRow } from './store.ts';

function entry(code: string): AuditEntry {
  return {
    time: 1_700_000_000_000,
    keyId: 'key_1',
    rootKeyId: 'key_1',
    runId: null,
    agentId: null,
    toolCallId: null,
    vendor: 'stripe',
    operation: 'POST /v1/charges',
    idempotencyKey: 'k',
    decision: 'executed',
    code,
    message: null,
    estimatedCostUsd: 1,
    actualCostUsd: 1,
    actualCostIsEstimate: false,
    amount: 1,
    currency: 'usd',
    upstreamStatus: 200,
    upstreamObjectId: 'ch_1',
    latencyMs: 1,
    traceId: null,
  };
}

function chain(n: number): AuditRow[] {
  const rows: AuditRow[] = [];
  for (let i = 0; i < n; i++) rows.push(chainAudit(entry(`c${i}`), rows.at(-1)));
  return rows;
}

describe('audit chain', () => {
  it('links each row to the one before, from the genesis hash', () => {
    const rows = chain(3);
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    expect(rows[2]?.prevHash).toBe(rows[1]?.hash);
    expect(verifyAuditRows(rows)).toEqual({ ok: true, rows: 3 });
  });

  it('names an edited row, even when its own hash was recomputed', () => {
    const rows = chain(5);
    rows[1] = { ...(rows[1] as AuditRow), actualCostUsd: 0 };
    expect(verifyAuditRows(rows)).toMatchObject({ ok: false, seq: 2, problem: 'edited' });
    const forged = chain(5);
    const { seq: _s, prevHash: _p, hash: _h, ...rest } = forged[1] as AuditRow;
    forged[1] = chainAudit({ ...rest, actualCostUsd: 0 }, forged[0]);
    expect(verifyAuditRows(forged)).toMatchObject({ ok: false, seq: 3, problem: 'edited' });
  });

  it('names a missing row', () => {
    const rows = chain(5);
    rows.splice(3, 1);
    expect(verifyAuditRows(rows)).toMatchObject({ ok: false, seq: 4, problem: 'missing' });
  });
});
