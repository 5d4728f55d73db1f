import { userInfo } from 'node:os';
import type { PendingCall } from '@spendguard/core';
import { query } from '../admin-client.ts';
import { type ConnectOptions, connect } from '../connect.ts';
import { createOutput, usd, when } from '../output.ts';

type Json = { json?: boolean };

export async function list(options: ConnectOptions & Json & { limit: number }) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const { pending } = await client.get<{ pending: PendingCall[] }>(
      `/v1/pending${query({ limit: options.limit })}`,
    );
    out.result(pending, () => {
      if (pending.length === 0) return out.note('no pending calls');
      out.table(
        ['checkpoint', 'key', 'run', 'call', 'reserved', 'started', 'why', 'settle now'],
        pending.map((p) => [
          p.checkpointId,
          p.keyId,
          p.runId ?? '—',
          `${p.vendor ?? ''} ${p.operation ?? ''}`.trim(),
          usd(p.reservedUsd),
          when(p.startedAt),
          p.outcomeUnknown ? 'outcome unknown' : 'lease ended',
          p.needsReconciliation ? 'yes' : 'not yet',
        ]),
      );
    });
  } finally {
    await client.close();
  }
}

export async function reconcile(
  id: string,
  options: ConnectOptions &
    Json & { outcome: 'executed' | 'failed'; cost?: number; objectId?: string; by?: string },
) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const result = await client.post<{ checkpoint: { id: string; state: string } }>(
      `/v1/pending/${encodeURIComponent(id)}/reconcile`,
      {
        outcome: options.outcome,
        by: options.by ?? userInfo().username,
        ...(options.cost !== undefined && { costUsd: options.cost }),
        ...(options.objectId !== undefined && { objectId: options.objectId }),
      },
    );
    out.result(result, () => out.line(`${result.checkpoint.id} settled: ${result.checkpoint.state}`));
  } finally {
    await client.close();
  }
}
