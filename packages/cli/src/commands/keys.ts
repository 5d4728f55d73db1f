import type { KeyRecord } from '@spendguard/core';
import { query } from '../admin-client.ts';
import { UsageError } from '../cli-error.ts';
import { type ConnectOptions, connect } from '../connect.ts';
import { createOutput, when } from '../output.ts';

type KeyView = KeyRecord & { state: string };
interface Json {
  json?: boolean;
}

export async function issue(
  options: ConnectOptions & Json & { policy: string; name?: string; ttl?: string },
) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const issued = await client.post<{ key: KeyView; token: string }>('/v1/keys', {
      policy: options.policy,
      ...(options.name !== undefined && { name: options.name }),
      ...(options.ttl !== undefined && { ttl: options.ttl }),
    });
    out.result(issued, () => {
      out.note(`Issued root key ${issued.key.id} (policy ${issued.key.policy}). Its token, shown this once:`);
      out.line(issued.token);
      out.note(
        'Keep it in SPENDGUARD_KEY (a secret store, not your shell history); derive run keys from it.',
      );
    });
  } finally {
    await client.close();
  }
}

export async function derive(
  options: ConnectOptions &
    Json & {
      parentEnv: string;
      run?: string;
      name?: string;
      ttl?: string;
      capRun?: number;
      capDay?: number;
      capHour?: number;
      capCall?: number;
    },
) {
  const out = createOutput(options.json === true);
  const parentToken = process.env[options.parentEnv];
  if (!parentToken)
    throw new UsageError(`no parent token: set ${options.parentEnv} (or pass --parent-env NAME)`);
  const caps = {
    ...(options.capRun !== undefined && { perRun: options.capRun }),
    ...(options.capDay !== undefined && { perDay: options.capDay }),
    ...(options.capHour !== undefined && { perHour: options.capHour }),
    ...(options.capCall !== undefined && { perCall: options.capCall }),
  };
  const client = await connect(options);
  try {
    const derived = await client.post<{ key: KeyView; token: string; reused: boolean }>('/v1/keys/derive', {
      parentToken,
      ...(options.run !== undefined && { runId: options.run }),
      ...(options.name !== undefined && { name: options.name }),
      ...(options.ttl !== undefined && { ttl: options.ttl }),
      ...(Object.keys(caps).length > 0 && { caps }),
    });
    out.result(derived, () => {
      out.note(
        `Derived key ${derived.key.id}${derived.key.runId ? ` for run ${derived.key.runId}` : ''}. Its token, shown this once:`,
      );
      out.line(derived.token);
    });
  } finally {
    await client.close();
  }
}

export async function list(
  options: ConnectOptions & Json & { root?: string; state?: string; limit: number },
) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const { keys } = await client.get<{ keys: KeyView[] }>(
      `/v1/keys${query({ root: options.root, state: options.state, limit: options.limit })}`,
    );
    out.result(keys, () => {
      if (keys.length === 0) return out.note('no keys');
      out.table(
        ['id', 'name', 'policy', 'run', 'parent', 'state', 'created', 'expires'],
        keys.map((k) => [
          k.id,
          k.name ?? '—',
          k.policy,
          k.runId ?? '—',
          k.parentId ?? '(root)',
          k.state,
          when(k.createdAt),
          when(k.expiresAt),
        ]),
      );
    });
  } finally {
    await client.close();
  }
}

export async function revoke(keyId: string, options: ConnectOptions & Json) {
  const out = createOutput(options.json === true);
  const client = await connect(options);
  try {
    const result = await client.post<{ key: KeyView; revoked: boolean }>(
      `/v1/keys/${encodeURIComponent(keyId)}/revoke`,
    );
    out.result(result, () =>
      out.line(
        `revoked ${result.key.id} at ${when(result.key.revokedAt)}: its calls, and those of keys derived from it, are denied`,
      ),
    );
  } finally {
    await client.close();
  }
}
