/**
 * Key names. Everything about one root key (its key records, revocations, checkpoints,
 * approvals, counters and alert marks) lives under `<prefix>{<rootId>}:`, so with Redis Cluster
 * all of a root's keys hash to one slot. The audit chain, the token records and the indexes from
 * an id to its root are global, under `<prefix>{global}:`.
 *
 * With `hashTag` set, every key instead carries that one tag (`<prefix>{<tag>}:root:<rootId>:`
 * and `<prefix>{<tag>}:global:`), so the whole store is one slot: see the README's Cluster notes.
 */
export interface KeyLayout {
  /** Prefix of the global keys: `audit`, `audit:head`, `tokens`, `keyroot`, `keylist`, `cproot`, `aproot`. */
  readonly global: string;
  /** Prefix of one root's keys: `keys`, `revoked`, `cp:<id>`, `apr:<id>`, `ctr:<id>`, `mark:<id>`. */
  root(rootId: string): string;
  /** The two halves of `root()`, which the scripts join around a root id. */
  readonly rootOpen: string;
  readonly rootClose: string;
}

export function keyLayout(prefix: string, hashTag?: string): KeyLayout {
  if (/[{}]/.test(prefix)) {
    throw new TypeError(`RedisStore: prefix ${JSON.stringify(prefix)} must not contain { or } (hash tags)`);
  }
  if (hashTag !== undefined && (hashTag === '' || /[{}]/.test(hashTag))) {
    throw new TypeError(`RedisStore: hashTag ${JSON.stringify(hashTag)} must be non-empty, without { or }`);
  }
  const rootOpen = hashTag === undefined ? `${prefix}{` : `${prefix}{${hashTag}}:root:`;
  const rootClose = hashTag === undefined ? '}:' : ':';
  return {
    global: hashTag === undefined ? `${prefix}{global}:` : `${prefix}{${hashTag}}:global:`,
    rootOpen,
    rootClose,
    root: (rootId) => `${rootOpen}${rootId}${rootClose}`,
  };
}
