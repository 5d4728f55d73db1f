import type { KeyRecord } from '../store.ts';

/**
 * A key record for store and pipeline tests: a root key (no parent) or a key derived from
 * `parent`, its chain and root following from it; `fields` override the rest (a name, a run id).
 */
export function testKeyRecord(
  id: string,
  parent: KeyRecord | null,
  fields: Partial<KeyRecord> = {},
): KeyRecord {
  return {
    id,
    parentId: parent?.id ?? null,
    rootId: parent?.rootId ?? id,
    chain: [...(parent?.chain ?? []), id],
    policy: 'p',
    narrowing: null,
    name: null,
    runId: null,
    createdAt: 1,
    expiresAt: null,
    revokedAt: null,
    ...fields,
  };
}
