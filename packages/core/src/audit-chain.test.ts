import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_HASHED_FIELDS,
  auditAnchor,
  chainAudit,
  GENESIS_HASH,
  hashedText,
  verifyAuditChain,
  verifyAuditLog,
  verifyAuditRows,
} from './audit-chain.ts';
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

describe('hashedText', () => {
  const fields = ['seq', ...AUDIT_HASHED_FIELDS];
  it('is the text JSON.stringify with the field list writes, for any values (property)', () => {
    const value = fc.oneof(fc.anything(), fc.string(), fc.double(), fc.constant(undefined), fc.constant(-0));
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...AUDIT_HASHED_FIELDS, 'prevHash', 'hash', 'extra'), value),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        (record, seq) => {
          const entry = record as unknown as AuditEntry;
          expect(hashedText(entry, seq)).toBe(JSON.stringify({ ...entry, seq }, fields));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

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

describe('verifyAuditLog: the chain read page by page', () => {
  const KEY = 'audit-key-for-tests';
  const reader = (rows: readonly AuditRow[]) => {
    const sorted = [...rows].sort((a, b) => a.seq - b.seq);
    return async (afterSeq: number, limit: number) => sorted.filter((r) => r.seq > afterSeq).slice(0, limit);
  };
  const headOf = (rows: readonly AuditRow[], anchored = true): AuditHead => {
    const last = rows.at(-1) as AuditRow;
    return {
      seq: last.seq,
      hash: last.hash,
      anchor: anchored ? auditAnchor(KEY, last.seq, last.hash) : null,
    };
  };

  it('gives the verdict verifyAuditChain gives, for every page size and tamper, reporting progress per page', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom('none', 'edit', 'delete', 'truncate', 'forge'),
        fc.nat(),
        async (n, pageSize, tamper, at) => {
          const rows = chain(n);
          const head = headOf(rows);
          const i = at % n;
          if (tamper === 'edit') rows[i] = { ...(rows[i] as AuditRow), amount: 99 };
          if (tamper === 'delete') rows.splice(i, 1);
          if (tamper === 'truncate') rows.splice(i);
          if (tamper === 'forge') {
            const { seq: _s, prevHash: _p, hash: _h, ...rest } = rows[i] as AuditRow;
            rows[i] = chainAudit({ ...rest, amount: 99 }, rows[i - 1]);
          }
          const progress: number[] = [];
          const paged = await verifyAuditLog(reader(rows), head, {
            anchorKey: KEY,
            pageSize,
            onProgress: (checked) => progress.push(checked),
          });
          expect(paged).toEqual(verifyAuditChain(rows, head, { anchorKey: KEY }));
          if (tamper === 'none') expect(paged).toEqual({ ok: true, rows: n });
          else expect(paged.ok).toBe(false);
          if (paged.ok) expect(progress.at(-1)).toBe(n);
          // Progress only grows, by at most a page at a time.
          progress.forEach((p, k) => {
            expect(p - (progress[k - 1] ?? 0)).toBeLessThanOrEqual(pageSize);
            expect(p).toBeGreaterThanOrEqual(progress[k - 1] ?? 0);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads pages after the last seq it checked, never the whole log at once', async () => {
    const rows = chain(25);
    const asked: [number, number][] = [];
    const read = reader(rows);
    const verdict = await verifyAuditLog(
      (after, limit) => {
        asked.push([after, limit]);
        return read(after, limit);
      },
      headOf(rows, false),
      { pageSize: 10 },
    );
    expect(verdict).toEqual({ ok: true, rows: 25 });
    expect(asked).toEqual([
      [0, 10],
      [10, 10],
      [20, 10],
    ]);
  });
});
