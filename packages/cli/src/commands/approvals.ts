import { userInfo } from 'node:os';
import type { ApprovalRecord } from '@spendguard/core';
import { query } from '../admin-client.ts';
import { type ConnectOptions, connect } from '../connect.ts';
import { createOutput, usd, when } from '../output.ts';

type Json = { json?: boolean };

export async function list(options: ConnectOptions & Json & { state: string }) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const { approvals } = await client.get<{ approvals: ApprovalRecord[] }>(
      `/v1/approvals${query({ state: options.state })}`,
    );
    out.result(approvals, () => {
      if (approvals.length === 0) return out.note(`no ${options.state} approvals`);
      out.table(
        ['id', 'key', 'call', 'to', 'up to', 'account', 'asked', 'state'],
        approvals.map((a) => [
          a.id,
          a.keyId,
          `${a.vendor} ${a.operation}`,
          a.recipient ?? '—',
          usd(a.costMicros / 1e6),
          a.account ?? '—',
          when(a.createdAt),
          a.state,
        ]),
      );
    });
  } finally {
    await client.close();
  }
}

async function decide(
  verdict: 'approve' | 'deny',
  id: string,
  options: ConnectOptions & Json & { by?: string; reason?: string },
) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const { approval } = await client.post<{ approval: ApprovalRecord }>(
      `/v1/approvals/${encodeURIComponent(id)}/${verdict}`,
      {
        by: options.by ?? userInfo().username,
        ...(options.reason !== undefined && { reason: options.reason }),
      },
    );
    out.result(approval, () =>
      out.line(
        `${approval.id} ${approval.state} by ${approval.decidedBy}: ${approval.vendor} ${approval.operation} up to ${usd(approval.costMicros / 1e6)}` +
          (approval.state === 'approved' ? ' (runs once, when the agent retries it)' : ''),
      ),
    );
  } finally {
    await client.close();
  }
}

export const approve = (id: string, options: ConnectOptions & Json & { by?: string; reason?: string }) =>
  decide('approve', id, options);
export const deny = (id: string, options: ConnectOptions & Json & { by?: string; reason?: string }) =>
  decide('deny', id, options);
