import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from './canonical-json.ts';
import { type Duration, parseDuration } from './duration.ts';
import { SpendguardError } from './errors.ts';
import {
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
  /** Derive the run key of this run: deriving again for the same run gives the same key (a new token). */
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

  /** Derive a child key from a parent token; it may only narrow the parent's policy. */
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
    const parentExpiry = parent.key.expiresAt;
    let expiresAt = ttlMs === undefined ? parentExpiry : now + ttlMs;
    if (parentExpiry !== null && expiresAt !== null && expiresAt > parentExpiry) expiresAt = parentExpiry;
    const id =
      options.runId === undefined
        ? `key_${randomBytes(8).toString('hex')}`
        : `run_${sha256Hex(`${parent.key.id}\n${options.runId}`).slice(0, 16)}`;
    const existing = options.runId === undefined ? undefined : await this.#store.getKey(id);
    if (!existing) {
      await this.#store.insertKey({
        id,
        parentId: parent.key.id,
        rootId: parent.key.rootId,
        chain: [...parent.key.chain, id],
        policy: parent.key.policy,
        narrowing,
        name: options.name ?? null,
        runId: options.runId ?? null,
        createdAt: now,
        expiresAt,
        revokedAt: null,
      });
      this.#policies.set(id, policy);
    }
    const record = existing ?? (await this.#record(id));
    return {
      id,
      token: await this.#issueToken(id),
      expiresAt: record?.expiresAt ?? expiresAt,
      reused: !!existing,
    };
  }

  /** Revoke a key by id; every key derived from it is refused from the next call on. */
  async revoke(keyId: string): Promise<boolean> {
    return this.#store.revokeKey(keyId, this.#now());
  }

  async get(keyId: string): Promise<KeyRecord | undefined> {
    return this.#store.getKey(keyId);
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
    const presented = Buffer.from(sha256Hex(secret), 'hex');
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
