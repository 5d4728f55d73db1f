import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditAnchor, chainAudit, GENESIS_HASH, verifyAuditChain, verifyAuditRows } from './audit-chain.ts';
import type { AuditEntry, AuditHead, AuditRow } from './store.ts';

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

describe('audit chain against its head and anchor', () => {
  const KEY = 'audit-key';
  const headOf = (row: AuditRow, anchor: AuditHead['anchor'] = null): AuditHead => ({
    seq: row.seq,
    hash: row.hash,
    anchor,
  });

  it('anchors a head with HMAC-SHA256 of "seq:hash"', () => {
    const anchor = auditAnchor(KEY, 7, 'ab'.repeat(32));
    expect(anchor).toEqual({
      seq: 7,
      hash: 'ab'.repeat(32),
      hmac: createHmac('sha256', KEY)
        .update(`7:${'ab'.repeat(32)}`)
        .digest('hex'),
    });
  });

  it('passes an untouched chain, and rows appended after the head was read', () => {
    const rows = chain(5);
    expect(verifyAuditChain([], undefined)).toEqual({ ok: true, rows: 0 });
    expect(verifyAuditChain(rows, headOf(rows[4] as AuditRow))).toEqual({ ok: true, rows: 5 });
    expect(verifyAuditChain(rows, headOf(rows[2] as AuditRow))).toEqual({ ok: true, rows: 5 });
  });

  it('names the newest rows, or all of them, deleted behind the head', () => {
    const rows = chain(5);
    const head = headOf(rows[4] as AuditRow);
    expect(verifyAuditChain(rows.slice(0, 4), head)).toEqual({
      ok: false,
      rows: 4,
      seq: 5,
      problem: 'truncated',
      message: 'audit row 5 is missing: the head is at row 5',
    });
    expect(verifyAuditChain([], head)).toEqual({
      ok: false,
      rows: 0,
      seq: 1,
      problem: 'truncated',
      message: 'audit rows 1 to 5 are missing: the head is at row 5',
    });
  });

  it('names rows without a head, and a head whose hash is not its row', () => {
    const rows = chain(3);
    expect(verifyAuditChain(rows, undefined)).toMatchObject({ ok: false, seq: 3, problem: 'head_missing' });
    const head = { ...headOf(rows[2] as AuditRow), hash: 'f'.repeat(64) };
    expect(verifyAuditChain(rows, head)).toMatchObject({ ok: false, seq: 3, problem: 'edited' });
  });

  it('tells two swapped rows from a deleted one', () => {
    const rows = chain(5);
    const swapped = [rows[0], rows[2], rows[1], rows[3], rows[4]] as AuditRow[];
    expect(verifyAuditChain(swapped, headOf(rows[4] as AuditRow))).toMatchObject({
      ok: false,
      seq: 2,
      problem: 'reordered',
      message: 'audit row 2 is out of order (row 3 comes before it)',
    });
    const twice = [rows[0], rows[1], rows[1], rows[2]] as AuditRow[];
    expect(verifyAuditRows(twice)).toMatchObject({ ok: false, seq: 2, problem: 'reordered' });
  });

  it('with the key, names a chain rewritten from its first row even when the head agrees', () => {
    const rows = chain(5);
    const anchor = auditAnchor(KEY, 4, (rows[3] as AuditRow).hash);
    expect(verifyAuditChain(rows, headOf(rows[4] as AuditRow, anchor), { anchorKey: KEY })).toEqual({
      ok: true,
      rows: 5,
    });
    const forged: AuditRow[] = [];
    for (const { seq, prevHash: _p, hash: _h, ...entry } of rows) {
      forged.push(chainAudit(seq === 1 ? { ...entry, actualCostUsd: 0 } : entry, forged.at(-1)));
    }
    const forgedHead = headOf(forged[4] as AuditRow, anchor);
    expect(verifyAuditChain(forged, forgedHead)).toEqual({ ok: true, rows: 5 });
    expect(verifyAuditChain(forged, forgedHead, { anchorKey: KEY })).toEqual({
      ok: false,
      rows: 5,
      seq: 4,
      problem: 'anchor_mismatch',
      message: 'audit row 4 does not match its anchor: the chain was rewritten',
    });
    const reanchored = headOf(forged[4] as AuditRow, auditAnchor('guess', 5, (forged[4] as AuditRow).hash));
    expect(verifyAuditChain(forged, reanchored, { anchorKey: KEY })).toMatchObject({
      ok: false,
      seq: 5,
      problem: 'anchor_mismatch',
      message: 'the anchor of audit row 5 is not signed by the audit key',
    });
  });
});
