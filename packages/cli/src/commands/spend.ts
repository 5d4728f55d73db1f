import type { KeySpend } from '@spendguard/core';
import { query } from '../admin-client.ts';
import { type ConnectOptions, connect } from '../connect.ts';
import { createOutput, spentOf } from '../output.ts';

type Row = KeySpend & { keyId: string; name: string | null; runId: string | null; parentId: string | null };

export default async function spend(
  options: ConnectOptions & { json?: boolean; root?: string; limit: number },
) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const { spend: rows } = await client.get<{ spend: Row[] }>(
      `/v1/spend${query({ root: options.root, limit: options.limit })}`,
    );
    // Highest spenders first: the runaway key is on top.
    rows.sort((a, b) => b.dayUsd - a.dayUsd || b.lifetimeUsd - a.lifetimeUsd);
    out.result(rows, () => {
      if (rows.length === 0) return out.note('no active keys');
      out.table(
        ['key', 'name', 'run', 'this hour', 'today', 'lifetime'],
        rows.map((r) => [
          r.keyId,
          r.name ?? '—',
          r.runId ?? (r.parentId === null ? '(root)' : '—'),
          spentOf(r.hourUsd, r.caps.hourUsd, r.alerts),
          spentOf(r.dayUsd, r.caps.dayUsd, r.alerts),
          spentOf(r.lifetimeUsd, r.caps.lifetimeUsd, r.alerts),
        ]),
      );
    });
  } finally {
    await client.close();
  }
}
