import { microsToUsd, StoreUnavailableError, sha256Hex } from '@spendguard/core';
import {
  type AlertEvent,
  type AppendedRow,
  type ApprovalQuery,
  type ApprovalRecord,
  type ApprovalVerdictInput,
  type AuditAnchor,
  type AuditEntry,
  type AuditHead,
  type AuditQuery,
  type AuditRow,
  type BeginPlan,
  type BeginResult,
  type CheckpointRecord,
  checkKeyQuery,
  decidedApproval,
  type FinishInput,
  type FinishResult,
  GENESIS_HASH,
  type KeyQuery,
  type KeyRecord,
  matchesAuditQuery,
  matchesKeyQuery,
  PENDING_LIMIT,
  type PruneOptions,
  type PruneResult,
  STALE_ATTEMPT,
  type Store,
  type StoreDenyCode,
  startedCheckpoint,
  type TokenRecord,
} from '@spendguard/core/store-kit';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { auditArgs } from './audit-fields.ts';
import { Connections, type RedisStoreStats } from './connections.ts';
import { type KeyLayout, keyLayout } from './keys.ts';
import {
  ADOPT_KEYLIST,
  AMOUNT_INVALID,
  ANCHOR_AUDIT,
  APPEND_AUDIT,
  AUDIT_HEAD,
  BEGIN,
  CHECKPOINT_FIELDS,
  DECIDE_APPROVAL,
  FINISH,
  GET_APPROVAL,
  GET_CHECKPOINT,
  GET_COUNTER,
  GET_KEY,
  INSERT_KEY,
  LIST_APPROVALS,
  LIST_KEYS,
  LIST_PENDING,
  type LuaScript,
  PRUNE_APPROVALS,
  PRUNE_CHECKPOINTS,
  PRUNE_TOKENS,
  REVOKE_KEY,
  SEAL,
  SEAL_READ,
} from './lua/scripts.ts';

export interface RedisStoreOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…`. Default: `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * An ioredis client to use instead of opening connections. It is not closed by `close()`, and
   * its own settings (offline queue, retries, timeouts) apply; see the README for fail-fast ones.
   */
  client?: Redis | Cluster;
  /** Prepended to every key, so several stores (or test runs) share one Redis. Default: `spendguard:`. */
  prefix?: string;
  /**
   * Put every key under this one hash tag instead of one tag per root key: the whole store then
   * lives in one Redis Cluster slot. Required with a Cluster client. Default: none.
   */
  hashTag?: string;
  /** Connections to open (round-robin). Ignored with `client`. Default: 2. */
  poolSize?: number;
  /** A command without a reply fails after this long. Ignored with `client`. Default: 2000 ms. */
  commandTimeoutMs?: number;
  /** How long the first connect may take before calls fail. Ignored with `client`. Default: 2000 ms. */
  connectTimeoutMs?: number;
  /**
   * Hour, day and minute counters (and their alert marks) expire this long after their window
   * ends, by the calling process's clock, so processes whose clocks differ a little agree.
   * Default: 3 600 000 ms (1 hour).
   */
  counterGraceMs?: number;
  /** More ioredis options for the connections the store opens (TLS, username, …). */
  redisOptions?: RedisOptions;
  /**
   * Audit rows are appended unlinked in each atomic step and linked (prevHash, hash) by this
   * store's sealer, in batches, this long after an append; reads (`readAudit`, `auditHead`,
   * verify) and `close()` link first. Any process sharing the store may link any row. Default: 20 ms.
   */
  sealDelayMs?: number;
}

const DEFAULT_URL = 'redis://127.0.0.1:6379';
/** Audit rows read per HMGET; a filtered read scans its seq range in chunks of this many. */
const AUDIT_PAGE = 1000;
/** Key records read per script; a filtered listing scans the ids in chunks of this many. */
const KEY_PAGE = 500;
/** Checkpoints or approvals one prune script looks at. */
const PRUNE_CHUNK = 500;
/** Rows linked per sealer step (one read, one write). */
const SEAL_BATCH = 500;
/** Sealer steps lost to another sealer before `seal` gives up for now (it runs again later). */
const SEAL_ATTEMPTS = 50;

/** What `seal` left: rows up to `linked` are linked; `appended` is the last row appended. */
export interface SealState {
  linked: number;
  appended: number;
  /**
   * Row `linked + 1` is gone (deleted by hand before it was linked), so no row after it can be
   * linked: verify names it.
   */
  blocked: boolean;
}

/**
 * The Store on Redis (7.0 or later): begin, finish, approval verdicts and audit appends are each
 * one Lua script run with EVALSHA, so each is atomic across every process sharing the server.
 * The scripts are ports of core's state-tx.ts rules. They append audit rows numbered but unlinked
 * (SHA-256 in Lua cost most of a step); the sealer links them right after, in order, with
 * node:crypto, producing exactly the rows core's `chainAudit` would.
 */
export class RedisStore implements Store {
  readonly kind = 'redis';
  readonly prefix: string;
  /** Where each record lives; see keys.ts and the README. */
  readonly layout: KeyLayout;
  readonly #conn: Connections;
  readonly #grace: string;
  /** ARGV[1..3] of every script: the global prefix and the two halves of a root's prefix. */
  readonly #head: readonly string[];
  readonly #auditHead: string;
  readonly #sealDelayMs: number;
  #sealTimer: ReturnType<typeof setTimeout> | undefined;
  /** Seal passes run one after another in a process; each links what was appended before it. */
  #sealQueue: Promise<unknown> = Promise.resolve();

  constructor(options: RedisStoreOptions = {}) {
    this.prefix = options.prefix ?? 'spendguard:';
    this.layout = keyLayout(this.prefix, options.hashTag);
    const poolSize = options.poolSize ?? 2;
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new TypeError(`RedisStore: poolSize must be a positive integer, got ${poolSize}`);
    }
    const client = options.client;
    if (client) {
      if (client.options && 'keyPrefix' in client.options && client.options.keyPrefix) {
        throw new TypeError(
          'RedisStore: the client has a keyPrefix, which scripts cannot see; use the store option `prefix`',
        );
      }
      if (client.isCluster && options.hashTag === undefined) {
        throw new TypeError(
          'RedisStore: with a Cluster client set `hashTag`: every script also touches the global audit chain, so the store must live in one slot',
        );
      }
    }
    this.#conn = new Connections({
      url: options.url ?? DEFAULT_URL,
      client,
      poolSize,
      commandTimeoutMs: options.commandTimeoutMs ?? 2000,
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      redisOptions: options.redisOptions,
    });
    this.#grace = String(options.counterGraceMs ?? 3_600_000);
    this.#head = [this.layout.global, this.layout.rootOpen, this.layout.rootClose];
    this.#auditHead = `${this.layout.global}audit:head`;
    this.#sealDelayMs = options.sealDelayMs ?? 20;
    if (!(Number.isFinite(this.#sealDelayMs) && this.#sealDelayMs >= 0)) {
      throw new TypeError(
        `RedisStore: sealDelayMs must be a non-negative number, got ${options.sealDelayMs}`,
      );
    }
  }

  /** Commands sent so far. Read it before and after a call to count that call's round trips. */
  get stats(): RedisStoreStats {
    return { ...this.#conn.stats };
  }

  /** The last connection error (password removed), if any: the store itself never logs. */
  get lastError(): string | undefined {
    return this.#conn.lastError;
  }

  async insertKey(key: KeyRecord): Promise<void> {
    await this.#run(INSERT_KEY, [
      key.id,
      key.rootId,
      JSON.stringify(key),
      key.revokedAt === null ? '' : String(key.revokedAt),
    ]);
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const reply = (await this.#run(GET_KEY, [id])) as string[];
    return reply.length === 0 ? undefined : toKey(reply[0] as string, reply[1] as string);
  }

  /**
   * Walks the ids in order from `afterId`, KEY_PAGE at a time, and filters here: the cost is the
   * keys read up to the page's last match, not the matches.
   */
  async listKeys(query: KeyQuery = {}): Promise<KeyRecord[]> {
    checkKeyQuery(query);
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const keys: KeyRecord[] = [];
    if (!(limit > 0)) return keys;
    // Ids an older version listed in insertion order: sorted in, a thousand per step.
    for (let left = 1; left > 0; ) left = Number(await this.#run(ADOPT_KEYLIST, []));
    let after = query.afterId ?? '';
    for (;;) {
      const [seen, last, flat] = (await this.#run(LIST_KEYS, [after, String(KEY_PAGE)])) as [
        number,
        string,
        string[],
      ];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const key = toKey(flat[i] as string, flat[i + 1] as string);
        if (matchesKeyQuery(key, query)) keys.push(key);
        if (keys.length === limit) return keys;
      }
      if (seen < KEY_PAGE) return keys;
      after = last;
    }
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    return Number(await this.#run(REVOKE_KEY, [id, String(at)])) === 1;
  }

  async insertToken(token: TokenRecord): Promise<void> {
    await this.#conn.call('HSET', [`${this.layout.global}tokens`, token.id, JSON.stringify(token)]);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const json = (await this.#conn.call('HGET', [`${this.layout.global}tokens`, id])) as string | null;
    return json === null ? undefined : (JSON.parse(json) as TokenRecord);
  }

  async begin(plan: BeginPlan): Promise<BeginResult> {
    const root = plan.chain[0] ?? plan.keyId;
    const args: string[] = [
      String(plan.now),
      root,
      plan.keyId,
      plan.checkpointId,
      plan.checkpointKey,
      plan.fingerprint,
      String(plan.leaseMs),
      String(plan.dedupWindowMs),
      plan.vendorIdempotent ? '1' : '0',
      String(plan.costMicros),
      this.#grace,
      String(plan.chain.length),
      ...plan.chain,
      String(plan.windows.length),
    ];
    for (const w of plan.windows) {
      args.push(
        w.id,
        w.keyId,
        w.label,
        w.capMicros === null ? '' : String(w.capMicros),
        w.expiresAt === null ? '' : String(w.expiresAt),
        w.alerts.join(','),
      );
    }
    args.push(String(plan.rates.length));
    for (const r of plan.rates) args.push(r.id, r.keyId, String(r.limit), String(r.expiresAt));
    const a = plan.approval;
    if (a) {
      args.push(
        '1',
        a.id,
        a.checkpointId,
        a.keyId,
        a.vendor,
        a.operation,
        String(a.costMicros),
        String(a.createdAt),
        a.fingerprint,
        String(a.ttlMs),
        ...optional(a.account),
        ...optional(a.recipient),
      );
    } else {
      args.push('0');
    }
    args.push(
      ...optional(plan.audit.vendor),
      ...optional(plan.audit.operation),
      JSON.stringify(plan.windows.map((w) => w.id)),
      JSON.stringify(plan.windows.map((w) => w.expiresAt)),
      ...auditArgs(plan.audit),
    );
    const reply = (await this.#run(BEGIN, args)) as unknown[];
    if (reply[0] === 'denied' || reply[0] === 'replay' || reply[0] === 'needs_approval') this.#sealSoon();
    switch (reply[0]) {
      case 'denied':
        return { kind: 'denied', code: reply[1] as StoreDenyCode, message: reply[2] as string };
      case 'replay':
        return {
          kind: 'replay',
          checkpoint: toReadCheckpoint(plan.checkpointId, reply[1] as (string | null)[]),
        };
      case 'wait':
        return {
          kind: 'wait',
          checkpoint: toReadCheckpoint(plan.checkpointId, reply[1] as (string | null)[]),
        };
      case 'resumed':
        return {
          kind: 'proceed',
          checkpoint: toReadCheckpoint(plan.checkpointId, reply[1] as (string | null)[]),
          alerts: [],
          resumed: true,
        };
      case 'needs_approval':
        return { kind: 'needs_approval', approvalId: reply[1] as string };
      case 'proceed': {
        const checkpoint = startedCheckpoint(plan, Number(reply[1]), Number(reply[2]));
        return { kind: 'proceed', checkpoint, alerts: toAlerts(plan, reply[3] as string[]), resumed: false };
      }
      default:
        throw new Error(`Redis store: unexpected begin reply ${String(reply[0])}`);
    }
  }

  async finish(input: FinishInput): Promise<FinishResult> {
    const reply = (await this.#run(FINISH, [
      String(input.now),
      input.checkpointId,
      String(input.fencingToken),
      input.outcome,
      input.result === undefined ? '0' : '1',
      input.result ?? '',
      input.actualMicros === undefined ? '' : String(input.actualMicros),
      input.error ? JSON.stringify(input.error) : '',
      this.#grace,
      ...auditArgs(input.audit),
    ]).catch((error: unknown) => {
      throw amountRefusal(error) ?? error;
    })) as string[];
    this.#sealSoon();
    // The row appended is the entry with its seq (and, when stale, core's message), as core's
    // chainAudit makes it: the script replies with the seq alone.
    if (reply[0] === '1') return { ok: true, audit: { ...input.audit, seq: Number(reply[1]) } };
    return {
      ok: false,
      reason: reply[1] as 'fenced' | 'missing',
      audit: { ...input.audit, message: STALE_ATTEMPT, seq: Number(reply[2]) },
    };
  }

  async getCheckpoint(id: string): Promise<CheckpointRecord | undefined> {
    const fields = (await this.#run(GET_CHECKPOINT, [id])) as string[];
    return fields.length === 0 ? undefined : toCheckpoint(id, fields);
  }

  async getApproval(id: string): Promise<ApprovalRecord | undefined> {
    const fields = (await this.#run(GET_APPROVAL, [id])) as string[];
    return fields.length === 0 ? undefined : toApproval(id, fields);
  }

  async decideApproval(input: ApprovalVerdictInput): Promise<ApprovalRecord | undefined> {
    // Read, build the audit row from what was read, then write only if it is still pending: the
    // record's other fields never change, so the row is the one a transaction would have built.
    const current = await this.getApproval(input.id);
    if (current?.state !== 'pending') return current;
    const decided = decidedApproval(current, input);
    const reply = (await this.#run(DECIDE_APPROVAL, [
      input.id,
      input.verdict,
      String(input.now),
      input.by === null ? '0' : '1',
      input.by ?? '',
      input.reason === null ? '0' : '1',
      input.reason ?? '',
      ...auditArgs(input.audit(decided)),
    ])) as unknown[];
    if (reply[0] === 'decided') this.#sealSoon();
    return reply[0] === 'missing' ? undefined : toApproval(input.id, reply[1] as string[]);
  }

  async getCounter(id: string): Promise<number> {
    const colon = id.indexOf(':');
    return Number(await this.#run(GET_COUNTER, [id, colon === -1 ? id : id.slice(0, colon)]));
  }

  async appendAudit(entry: AuditEntry): Promise<AppendedRow> {
    const seq = Number(await this.#run(APPEND_AUDIT, auditArgs(entry)));
    this.#sealSoon();
    return { ...entry, seq };
  }

  /**
   * Link every row appended so far (by any process) that is not linked yet, in order, a batch per
   * step: read the head and the rows after it, hash them here, write them back only if the head
   * has not moved meanwhile (another sealer got there first: read again). Reads and `close()`
   * call it; appends schedule it `sealDelayMs` later.
   */
  seal(): Promise<SealState> {
    const pass = this.#sealQueue.catch(() => {}).then(() => this.#sealPass());
    this.#sealQueue = pass;
    return pass;
  }

  async #sealPass(): Promise<SealState> {
    for (let lost = 0; ; ) {
      this.#conn.stats.sealCommands++;
      const read = (await this.#run(SEAL_READ, [String(SEAL_BATCH)])) as string[];
      const head = read[0] as string;
      const appended = Number(read[1]);
      const space = head.indexOf(' ');
      const linked = head === '' ? 0 : Number(head.slice(0, space));
      let prevHash = head === '' ? GENESIS_HASH : head.slice(space + 1);
      if (read.length === 2) return { linked, appended, blocked: linked < appended };
      // Per row: what SEAL checks the stored row against (see there), and the row's hash. The
      // rows themselves are linked in the script, from the stored text.
      const whole = head === '';
      const args = [head];
      let seq = linked;
      for (let i = 2; i < read.length; i++) {
        const row = read[i] as string;
        if (row === '') break;
        seq++;
        prevHash = sha256Hex(`${prevHash}\n${row}`);
        args.push(whole ? row : String(Buffer.byteLength(row)), prevHash);
      }
      if (seq === linked) return { linked, appended, blocked: true };
      const batch = read.length - 2;
      this.#conn.stats.sealCommands++;
      if (Number(await this.#run(SEAL, args)) === 1) {
        if (seq < linked + batch || seq === appended) {
          return { linked: seq, appended, blocked: seq < appended && seq < linked + batch };
        }
      } else if (++lost >= SEAL_ATTEMPTS) {
        return { linked, appended, blocked: false };
      }
    }
  }

  #sealSoon(): void {
    if (this.#sealTimer !== undefined || this.#conn.closed) return;
    this.#sealTimer = setTimeout(() => {
      this.#sealTimer = undefined;
      // A failed pass leaves the rows for the next one (or for any reader, in any process).
      this.seal().catch(() => {});
    }, this.#sealDelayMs);
    this.#sealTimer.unref?.();
  }

  /**
   * The log is a hash of seq → row, so a page is read by seq: HMGET of AUDIT_PAGE seqs at a time,
   * upwards from `afterSeq` (or downwards from `beforeSeq` for a backwards page), filtered here,
   * until the page is full or the range ends. A filtered read costs the rows scanned up to the
   * page's last match, not the matches: a rare filter over a long log reads much of it.
   */
  async readAudit(query: AuditQuery = {}): Promise<AuditRow[]> {
    const limit = query.limit ?? Number.POSITIVE_INFINITY;
    const rows: AuditRow[] = [];
    if (!(limit > 0)) return rows;
    // Rows appended after this pass are left for the next read, as if appended after it. Rows
    // after one deleted before it was linked cannot be linked: they are read with empty links,
    // so verify names the gap rather than stopping short of it.
    const sealed = await this.seal();
    const last = sealed.blocked ? sealed.appended : sealed.linked;
    const low = Math.max(Math.floor(query.afterSeq ?? 0), 0) + 1;
    const high = Math.min(last, query.beforeSeq === undefined ? last : Math.ceil(query.beforeSeq) - 1);
    const backwards = query.beforeSeq !== undefined && query.limit !== undefined;
    // Without filters every row read is kept, so read no more than the page still needs.
    const { afterSeq: _after, beforeSeq: _before, limit: _limit, ...filters } = query;
    const filtered = Object.values(filters).some((value) => value !== undefined);
    let next = backwards ? high : low;
    while ((backwards ? next >= low : next <= high) && rows.length < limit) {
      const size = filtered ? AUDIT_PAGE : Math.min(AUDIT_PAGE, limit - rows.length);
      const seqs: string[] = [];
      for (let i = 0; i < size; i++) {
        const seq = backwards ? next - i : next + i;
        if (seq < low || seq > high) break;
        seqs.push(String(seq));
      }
      const page = (await this.#conn.call('HMGET', [`${this.layout.global}audit`, ...seqs])) as (
        | string
        | null
      )[];
      // A missing row (deleted by hand) is skipped: verify then names it.
      for (const json of page) {
        if (json === null || rows.length === limit) continue;
        const row = JSON.parse(json) as AuditRow;
        if (row.hash === undefined) Object.assign(row, { prevHash: '', hash: '' });
        if (matchesAuditQuery(row, query)) rows.push(row);
      }
      next = backwards ? next - seqs.length : next + seqs.length;
    }
    return backwards ? rows.reverse() : rows;
  }

  /**
   * The newest linked row (after linking what was appended). When a row was deleted before it
   * was linked, the rows after it cannot be linked: the head is then the last appended seq with
   * no hash, so verify names the gap.
   */
  async auditHead(): Promise<AuditHead | undefined> {
    const sealed = await this.seal();
    const [head, appended, anchorFields] = (await this.#run(AUDIT_HEAD, [])) as [string, string, string[]];
    const a = fieldsOf(anchorFields);
    const anchor =
      a.size === 0
        ? null
        : { seq: Number(a.get('seq')), hash: a.get('hash') as string, hmac: a.get('hmac') as string };
    if (sealed.blocked) return { seq: Number(appended), hash: '', anchor };
    if (head === '') return undefined;
    const space = head.indexOf(' ');
    return { seq: Number(head.slice(0, space)), hash: head.slice(space + 1), anchor };
  }

  async anchorAudit(anchor: AuditAnchor): Promise<void> {
    await this.#run(ANCHOR_AUDIT, [String(anchor.seq), anchor.hash, anchor.hmac]);
  }

  async listPending(options: { now: number; limit?: number }): Promise<CheckpointRecord[]> {
    const flat = (await this.#run(LIST_PENDING, [
      String(options.now),
      String(options.limit ?? PENDING_LIMIT),
    ])) as (string | string[])[];
    const checkpoints: CheckpointRecord[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      checkpoints.push(toCheckpoint(flat[i] as string, flat[i + 1] as string[]));
    }
    return checkpoints;
  }

  /**
   * Bounded steps of HSCAN over the approval index (pruning keeps it to undecided and recent
   * approvals), filtered and sorted here: an operator's listing, not a hot path.
   */
  async listApprovals(query: ApprovalQuery = {}): Promise<ApprovalRecord[]> {
    const found: ApprovalRecord[] = [];
    let cursor = '0';
    do {
      const reply = (await this.#run(LIST_APPROVALS, [cursor, String(PRUNE_CHUNK)])) as (string | string[])[];
      cursor = reply[0] as string;
      for (let i = 1; i + 1 < reply.length; i += 2) {
        const approval = toApproval(reply[i] as string, reply[i + 1] as string[]);
        if (query.state === undefined || approval.state === query.state) found.push(approval);
      }
    } while (cursor !== '0');
    found.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return found.slice(0, query.limit ?? PENDING_LIMIT);
  }

  /**
   * Each kind in bounded steps, each step one script (atomic against begin and finish): tokens by
   * HSCAN over the token hash; checkpoints and approvals from the `settled` and `decided` indexes
   * (by when their window ends, by decision time). Checkpoints settled and approvals decided
   * before this version are not in those indexes, and are kept. Counters and alert marks need no
   * pruning: they expire by TTL.
   */
  async prune(options: PruneOptions): Promise<PruneResult> {
    const now = String(options.now);
    let tokens = 0;
    let cursor = '0';
    do {
      const [next, deleted] = (await this.#run(PRUNE_TOKENS, [cursor, now])) as [string, number];
      tokens += Number(deleted);
      cursor = next;
    } while (cursor !== '0');
    let checkpoints = 0;
    for (;;) {
      const [deleted, read] = (await this.#run(PRUNE_CHECKPOINTS, [now, String(PRUNE_CHUNK)])) as number[];
      checkpoints += Number(deleted);
      if (Number(read) < PRUNE_CHUNK) break;
    }
    let approvals = 0;
    if (options.approvalsOlderThanMs !== undefined) {
      const cutoff = String(options.now - options.approvalsOlderThanMs);
      // Usable approvals stay in the index, so the next step starts past those kept.
      for (let offset = 0; ; ) {
        const [deleted, kept, read] = (await this.#run(PRUNE_APPROVALS, [
          now,
          cutoff,
          String(offset),
          String(PRUNE_CHUNK),
        ])) as number[];
        approvals += Number(deleted);
        offset += Number(kept);
        if (Number(read) < PRUNE_CHUNK) break;
      }
    }
    return { tokens, checkpoints, approvals };
  }

  /**
   * Delete every key under this store's prefix (tests, or retiring a prefix). Irreversible.
   * Returns how many keys were deleted.
   */
  async clear(): Promise<number> {
    if (this.prefix === '') throw new TypeError('RedisStore.clear: refusing to clear an empty prefix');
    const pattern = `${this.prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`;
    let deleted = 0;
    const first = this.#conn.clients[0];
    // A SCAN cursor is the server's, not the connection's: any connection to the server may go on.
    const nodes: { call(command: string, args: (string | number)[]): Promise<unknown> }[] = first?.isCluster
      ? (first as Cluster).nodes('master')
      : [{ call: (command, args) => this.#conn.call(command, args) }];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = (await node.call('SCAN', [cursor, 'MATCH', pattern, 'COUNT', 1000])) as [
          string,
          string[],
        ];
        cursor = next;
        if (keys.length > 0) deleted += Number(await node.call('UNLINK', keys));
      } while (cursor !== '0');
    }
    return deleted;
  }

  async close(): Promise<void> {
    clearTimeout(this.#sealTimer);
    this.#sealTimer = undefined;
    if (!this.#conn.closed) {
      // Link what this process appended; if Redis is gone, any process (or reader) links it later.
      await this.seal().catch(() => {});
    }
    await this.#conn.close();
  }

  #run(script: LuaScript, args: readonly string[]): Promise<unknown> {
    // The declared key routes the script (Cluster); the scripts build their other key names.
    return this.#conn.run(script, [this.#auditHead], [...this.#head, ...args]);
  }
}

/** An optional string as the scripts read it: a 1/0 flag, then the value ('' when null). */
function optional(value: string | null): [string, string] {
  return value === null ? ['0', ''] : ['1', value];
}

/**
 * FINISH's AMOUNT_INVALID reply (the script changed nothing) as the RangeError core throws: the
 * caller's mistake, not an outage, though the connection layer wraps every reply error as one.
 */
function amountRefusal(error: unknown): RangeError | undefined {
  const reply = StoreUnavailableError.isInstance(error) ? error.cause : undefined;
  const message = reply instanceof Error ? reply.message : '';
  const code = `${AMOUNT_INVALID} `;
  return message.startsWith(code) ? new RangeError(message.slice(code.length)) : undefined;
}

function fieldsOf(flat: readonly string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return fields;
}

function numberOrNull(value: string | undefined): number | null {
  return value === undefined ? null : Number(value);
}

/** Where each of CHECKPOINT_FIELDS is in begin's reply. */
const CHECKPOINT_INDEX = new Map(CHECKPOINT_FIELDS.map((field, i) => [field, i]));

/** A checkpoint from HGETALL's flat field/value list. */
function toCheckpoint(id: string, flat: readonly string[]): CheckpointRecord {
  const f = fieldsOf(flat);
  return checkpointOf(id, (field) => f.get(field));
}

/** A checkpoint from begin's reply: the values of CHECKPOINT_FIELDS in order (null where absent). */
function toReadCheckpoint(id: string, values: readonly (string | null)[]): CheckpointRecord {
  return checkpointOf(id, (field) => values[CHECKPOINT_INDEX.get(field) as number] ?? undefined);
}

/** `get` reads a field (undefined where absent); only CHECKPOINT_FIELDS, which begin replies with. */
function checkpointOf(
  id: string,
  get: (field: (typeof CHECKPOINT_FIELDS)[number]) => string | undefined,
): CheckpointRecord {
  const error = get('error');
  const dedup = get('dedup');
  return {
    id,
    key: get('key') as string,
    fingerprint: get('fp') as string,
    state: get('state') as CheckpointRecord['state'],
    outcomeUnknown: get('ou') === '1',
    generation: Number(get('gen')),
    fencingToken: Number(get('fence')),
    leaseUntil: Number(get('lease')),
    keyId: get('keyId') as string,
    reservedMicros: Number(get('reserved')),
    windows: JSON.parse(get('windows') ?? '[]') as string[],
    startedAt: Number(get('started')),
    completedAt: numberOrNull(get('completed')),
    // Absent on checkpoints begun before the window was recorded, as in every store.
    ...(dedup !== undefined && { dedupWindowMs: Number(dedup) }),
    result: get('result') ?? null,
    actualMicros: numberOrNull(get('actual')),
    error: error === undefined ? null : (JSON.parse(error) as CheckpointRecord['error']),
    vendor: get('vendor') ?? null,
    operation: get('op') ?? null,
  };
}

function toApproval(id: string, flat: readonly string[]): ApprovalRecord {
  const f = fieldsOf(flat);
  return {
    id,
    checkpointId: f.get('cp') as string,
    keyId: f.get('keyId') as string,
    vendor: f.get('vendor') as string,
    operation: f.get('op') as string,
    costMicros: Number(f.get('cost')),
    fingerprint: f.get('fp') as string,
    account: f.get('acct') ?? null,
    recipient: f.get('to') ?? null,
    ttlMs: Number(f.get('ttl')),
    usedAt: numberOrNull(f.get('used')),
    state: f.get('state') as ApprovalRecord['state'],
    createdAt: Number(f.get('created')),
    decidedAt: numberOrNull(f.get('decidedAt')),
    decidedBy: f.get('decidedBy') ?? null,
    reason: f.get('reason') ?? null,
  };
}

function toKey(json: string, revokedAt: string): KeyRecord {
  return { ...(JSON.parse(json) as KeyRecord), revokedAt: revokedAt === '' ? null : Number(revokedAt) };
}

/** The script reports (window number, threshold as sent, micro-dollars after) per alert. */
function toAlerts(plan: BeginPlan, flat: readonly string[]): AlertEvent[] {
  const alerts: AlertEvent[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    const window = plan.windows[Number(flat[i]) - 1];
    if (!window || window.capMicros === null) continue;
    alerts.push({
      keyId: window.keyId,
      window: window.label,
      windowId: window.id,
      thresholdPercent: Number(flat[i + 1]),
      capUsd: microsToUsd(window.capMicros),
      usedUsd: microsToUsd(Number(flat[i + 2])),
    });
  }
  return alerts;
}
