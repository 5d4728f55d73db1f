import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from './canonical-json.ts';
import { type Duration, parseDuration } from './duration.ts';
import { SpendguardError, StoreUnavailableError } from './errors.ts';
import {
  type Caps,
  capsSchema,
  type Narrowing,
  narrowPolicy,
  type PolicyDocument,
  type ResolvedPolicy,
  resolvePolicy,
} from './policy.ts';
import type { KeyRecord, Store } from './store.ts';

/** Every vault-key token starts with this, so scanners and humans can tell it is ours. */
export const TOKEN_PREFIX = 'sk_sg_';
const TOKEN_PATTERN = /^sk_sg_([0-9a-f]{16})([0-9a-f]{48})$/;

export interface IssuedKey {
  id: string;
  /** Shown once: only its hash is stored. */
  token: string;
  expiresAt: number | null;
}

export interface IssueRootOptions {
  /** Policy name in the policy document. */
  policy: string;
  /** A label for people (`billing-agent`). */
  name?: string;
  /** Time to live; default: the policy's `keyTtl`, else no expiry. */
  ttl?: Duration;
}

export interface DeriveOptions extends Narrowing {
  /**
   * Derive the run key of this run: deriving again for the same run with the same narrowing gives
   * the same key (a new token); with another narrowing it throws (see `VaultKeys.derive`).
   */
  runId?: string;
  /** Time to live, no longer than the parent's; default: the policy's `keyTtl`, else the parent's. */
  ttl?: Duration;
  name?: string;
}

/** A key as the engine uses it: its record, its chain and its resolved policy. */
export interface AuthenticatedKey {
  key: KeyRecord;
  /** Records from the root down to this key. */
  chain: KeyRecord[];
  policy: ResolvedPolicy;
  /** Resolved policy of each key in the chain (same order). */
  policies: ResolvedPolicy[];
}

export type AuthFailure = { code: 'key_unknown' | 'key_expired'; message: string; key?: KeyRecord };

/**
 * Issue, derive, revoke and authenticate vault keys. Key records are immutable but for their
 * revocation, which is checked inside every atomic begin; so records and policies are cached here.
 */
export class VaultKeys {
  readonly #store: Store;
  readonly #document: PolicyDocument;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyRecord>();
  readonly #tokens = new Map<string, { keyId: string; hash: Buffer }>();
  readonly #policies = new Map<string, ResolvedPolicy>();

  constructor(store: Store, document: PolicyDocument, now: () => number) {
    this.#store = store;
    this.#document = document;
    this.#now = now;
  }

  async issueRoot(options: IssueRootOptions): Promise<IssuedKey> {
    const policy = this.#rootPolicy(options.policy);
    const now = this.#now();
    const ttlMs = options.ttl === undefined ? policy.keyTtlMs : durationMs(options.ttl);
    const id = `key_${randomBytes(8).toString('hex')}`;
    const record: KeyRecord = {
      id,
      parentId: null,
      rootId: id,
      chain: [id],
      policy: options.policy,
      narrowing: null,
      name: options.name ?? null,
      runId: null,
      createdAt: now,
      expiresAt: ttlMs === undefined ? null : now + ttlMs,
      revokedAt: null,
    };
    await this.#store.insertKey(record);
    return { id, token: await this.#issueToken(id), expiresAt: record.expiresAt };
  }

  /**
   * Derive a child key from a parent token; it may only narrow the parent's policy.
   *
   * With a `runId`, the run key's id comes from the parent's id and the run id, so every derive
   * for that run (in any process) names one key and shares its spend. Deriving again returns that
   * key with a new token, but only when it is exactly what this derive asks for: the same caps,
   * the same operations (as a set), the same rate and the same expiry, all compared as they take
   * effect (restating a parent's limit is no narrowing). A ttl counts from when the run key was
   * first made, so the same ttl asked later finds the same key, expiring no later than asked.
   * `name` is only a label and is not compared. Otherwise it throws:
   * - `narrowing_violation`, naming the run id and each field that differs, when the run's key has
   *   other limits (returning it could hand out a key wider than asked);
   * - `key_invalid` when the run's key is revoked or expired: a stopped run stays stopped.
   * Concurrent derives for one run end with one key: the store keeps the first record under an id,
   * and each derive checks the record that was kept. `reused` is true when the key was there
   * before this derive tried to make it.
   */
  async derive(parentToken: string, options: DeriveOptions = {}): Promise<IssuedKey & { reused: boolean }> {
    const parent = await this.authenticate(parentToken);
    if ('code' in parent) {
      throw new SpendguardError('key_invalid', `cannot derive from this key: ${parent.message}`);
    }
    // Authentication leaves revocation to the atomic begin; deriving is not a call, so read it here.
    for (const id of parent.key.chain) {
      if ((await this.#store.getKey(id))?.revokedAt !== null) {
        throw new SpendguardError('key_invalid', `cannot derive from this key: ${id} is revoked`);
      }
    }
    const narrowing: Narrowing = {
      ...(options.caps && { caps: options.caps }),
      ...(options.operations && { operations: options.operations }),
      ...(options.ratePerMinute !== undefined && { ratePerMinute: options.ratePerMinute }),
    };
    const policy = narrowPolicy(parent.policy, narrowing);
    const now = this.#now();
    const ttlMs = options.ttl === undefined ? policy.keyTtlMs : durationMs(options.ttl);
    const { runId } = options;
    const id =
      runId === undefined
        ? `key_${randomBytes(8).toString('hex')}`
        : `run_${sha256Hex(`${parent.key.id}\n${runId}`).slice(0, 16)}`;
    const record: KeyRecord = {
      id,
      parentId: parent.key.id,
      rootId: parent.key.rootId,
      chain: [...parent.key.chain, id],
      policy: parent.key.policy,
      narrowing,
      name: options.name ?? null,
      runId: runId ?? null,
      createdAt: now,
      expiresAt: expiryOf(now, ttlMs, parent.key.expiresAt),
      revokedAt: null,
    };
    if (runId === undefined) {
      await this.#store.insertKey(record);
      this.#policies.set(id, policy);
      return { id, token: await this.#issueToken(id), expiresAt: record.expiresAt, reused: false };
    }

    let runKey = await this.#store.getKey(id);
    const reused = runKey !== undefined;
    if (!runKey) {
      await this.#store.insertKey(record);
      // The store keeps the first record under an id: a concurrent derive's may have won.
      runKey = await this.#store.getKey(id);
      if (!runKey) throw new StoreUnavailableError(`the run key ${id} was not stored`);
    }
    if (runKey.revokedAt !== null) {
      throw new SpendguardError(
        'key_invalid',
        `run ${runId} already has a key, revoked at ${isoTime(runKey.revokedAt)}: a revoked run key is not issued again. Use a new run id.`,
      );
    }
    if (runKey.expiresAt !== null && runKey.expiresAt <= now) {
      throw new SpendguardError(
        'key_invalid',
        `run ${runId} already has a key, expired at ${isoTime(runKey.expiresAt)}: an expired run key is not issued again. Use a new run id.`,
      );
    }
    const differences = runKeyDifferences(
      { policy: this.#policyOf(runKey), expiresAt: runKey.expiresAt },
      // What this derive would have made, had it made the run key when it was made.
      { policy, expiresAt: expiryOf(runKey.createdAt, ttlMs, parent.key.expiresAt) },
    );
    if (differences.length > 0) {
      const has = differences.map((d) => `${d.field} ${d.has}`).join(', ');
      const asks = differences.map((d) => `${d.field} ${d.asks}`).join(', ');
      throw new SpendguardError(
        'narrowing_violation',
        `run ${runId} already has a key with ${has}; this derive asks for ${asks}. Use a new run id, or derive from the run key to narrow it further.`,
      );
    }
    return { id, token: await this.#issueToken(id), expiresAt: runKey.expiresAt, reused };
  }

  /** Revoke a key by id; every key derived from it is refused from the next call on. */
  async revoke(keyId: string): Promise<boolean> {
    return this.#store.revokeKey(keyId, this.#now());
  }

  async get(keyId: string): Promise<KeyRecord | undefined> {
    return this.#store.getKey(keyId);
  }

  /** The policy a key works under (its root's, narrowed down its chain); undefined for an unknown key. */
  async policy(keyId: string): Promise<ResolvedPolicy | undefined> {
    const key = await this.#record(keyId);
    if (!key) return undefined;
    for (const id of key.chain) if (!(await this.#record(id))) return undefined;
    return this.#policyOf(key);
  }

  async list(): Promise<KeyRecord[]> {
    return this.#store.listKeys();
  }

  /**
   * Check a token and the expiry of its chain. Revocation is not checked here: it is the one
   * mutable fact, and `begin` checks it atomically with the rest of the call.
   */
  async authenticate(token: string): Promise<AuthenticatedKey | AuthFailure> {
    const match = typeof token === 'string' ? TOKEN_PATTERN.exec(token) : null;
    if (!match) return { code: 'key_unknown', message: 'the vault key is not a spendguard key' };
    const [, tokenId, secret] = match as unknown as [string, string, string];
    let stored = this.#tokens.get(tokenId);
    if (!stored) {
      const record = await this.#store.getToken(tokenId);
      if (record) {
        stored = { keyId: record.keyId, hash: Buffer.from(record.hash, 'hex') };
        this.#tokens.set(tokenId, stored);
      }
    }
    const presented = hash('sha256', secret, 'buffer');
    if (!stored || stored.hash.length !== presented.length || !timingSafeEqual(stored.hash, presented)) {
      return { code: 'key_unknown', message: 'the vault key is not known' };
    }
    const key = await this.#record(stored.keyId);
    if (!key) return { code: 'key_unknown', message: 'the vault key is not known' };
    const chain: KeyRecord[] = [];
    for (const id of key.chain) {
      const record = id === key.id ? key : await this.#record(id);
      if (!record)
        return { code: 'key_unknown', message: `an ancestor of the vault key (${id}) is not known`, key };
      chain.push(record);
    }
    const now = this.#now();
    const expired = chain.find((k) => k.expiresAt !== null && k.expiresAt <= now);
    if (expired) {
      const which = expired.id === key.id ? 'the vault key' : `its ancestor ${expired.id}`;
      return {
        code: 'key_expired',
        message: `${which} expired at ${new Date(expired.expiresAt as number).toISOString()}`,
        key,
      };
    }
    const policies = chain.map((k) => this.#policyOf(k));
    return { key, chain, policy: policies.at(-1) as ResolvedPolicy, policies };
  }

  async #issueToken(keyId: string): Promise<string> {
    const tokenId = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('hex');
    await this.#store.insertToken({ id: tokenId, keyId, hash: sha256Hex(secret), createdAt: this.#now() });
    return `${TOKEN_PREFIX}${tokenId}${secret}`;
  }

  async #record(id: string): Promise<KeyRecord | undefined> {
    let record = this.#keys.get(id);
    if (!record) {
      record = await this.#store.getKey(id);
      if (record) this.#keys.set(id, record);
    }
    return record;
  }

  #rootPolicy(name: string): ResolvedPolicy {
    const cached = this.#policies.get(`policy:${name}`);
    if (cached) return cached;
    const input = this.#document.policies[name];
    if (!input) {
      const known = Object.keys(this.#document.policies).join(', ') || 'none';
      throw new SpendguardError('policy_unknown', `no policy named "${name}" (known: ${known})`);
    }
    const policy = resolvePolicy(name, input);
    this.#policies.set(`policy:${name}`, policy);
    return policy;
  }

  #policyOf(key: KeyRecord): ResolvedPolicy {
    const cached = this.#policies.get(key.id);
    if (cached) return cached;
    let policy = this.#rootPolicy(key.policy);
    // Narrowings apply from the root down; each was checked against its parent when derived.
    for (const id of key.chain.slice(1)) {
      const record = id === key.id ? key : this.#keys.get(id);
      if (record?.narrowing) policy = narrowPolicy(policy, record.narrowing);
    }
    this.#policies.set(key.id, policy);
    return policy;
  }
}

function durationMs(value: Duration): number {
  const ms = parseDuration(value);
  if (ms === undefined)
    throw new SpendguardError('key_invalid', `ttl ${JSON.stringify(value)} is not a duration`);
  return ms;
}

/** When a key made at `createdAt` expires: `ttlMs` later, else with its parent; never after its parent. */
function expiryOf(
  createdAt: number,
  ttlMs: number | undefined,
  parentExpiresAt: number | null,
): number | null {
  if (ttlMs === undefined) return parentExpiresAt;
  const expiresAt = createdAt + ttlMs;
  return parentExpiresAt !== null && expiresAt > parentExpiresAt ? parentExpiresAt : expiresAt;
}

function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

const CAP_NAMES = Object.keys(capsSchema.shape) as (keyof Caps)[];

/** What a run key allows, as `derive` compares it for one run id. */
interface RunKeyTerms {
  policy: ResolvedPolicy;
  expiresAt: number | null;
}

/** A field where the run's key (`has`) differs from what a derive asks for, both as people read them. */
interface RunKeyDifference {
  field: string;
  has: string;
  asks: string;
}

/** Every field where two run keys differ: each cap, the operations as a set, the rate, the expiry. */
function runKeyDifferences(has: RunKeyTerms, asks: RunKeyTerms): RunKeyDifference[] {
  const differences: RunKeyDifference[] = [];
  for (const name of CAP_NAMES) {
    const [a, b] = [has.policy.caps[name], asks.policy.caps[name]];
    if (a !== b)
      differences.push({ field: `caps.${name}`, has: String(a ?? 'none'), asks: String(b ?? 'none') });
  }
  const [hasOperations, asksOperations] = [operationSet(has.policy), operationSet(asks.policy)];
  if (
    hasOperations.size !== asksOperations.size ||
    [...hasOperations].some((id) => !asksOperations.has(id))
  ) {
    differences.push({
      field: 'operations',
      has: `[${[...hasOperations].sort().join(', ')}]`,
      asks: `[${[...asksOperations].sort().join(', ')}]`,
    });
  }
  const [hasRate, asksRate] = [has.policy.ratePerMinute, asks.policy.ratePerMinute];
  if (hasRate !== asksRate) {
    differences.push({
      field: 'ratePerMinute',
      has: String(hasRate ?? 'none'),
      asks: String(asksRate ?? 'none'),
    });
  }
  if (has.expiresAt !== asks.expiresAt) {
    const expiry = (at: number | null) => (at === null ? 'never' : isoTime(at));
    differences.push({
      field: 'expiresAt',
      has: expiry(has.expiresAt),
      asks: `${expiry(asks.expiresAt)} (a ttl counts from when the run key was made)`,
    });
  }
  return differences;
}

function operationSet(policy: ResolvedPolicy): Set<string> {
  return new Set(policy.rules.map((rule) => rule.id));
}
