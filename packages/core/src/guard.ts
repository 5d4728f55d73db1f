import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditVerdict, auditAnchor, verifyAuditChain } from './audit-chain.ts';
import { contentHash, sha256Hex } from './canonical-json.ts';
import { Credentials } from './credentials.ts';
import type { DenyCode, ExecuteDecision } from './decision.ts';
import { parseDuration } from './duration.ts';
import { RequestInvalidError, SpendguardError } from './errors.ts';
import { type Attribution, type Money, type Operation, operationName } from './operation.ts';
import {
  type CredentialSource,
  DEFAULT_APPROVAL_TTL_MS,
  DEFAULT_RECONCILE_AFTER_MS,
  type OperationRule,
  type PolicyDocument,
  type ResolvedPolicy,
} from './policy.ts';
import {
  checkDeferred,
  checkOperation,
  microsToUsd,
  needsApproval,
  toUsdMicros,
  usdToMicros,
} from './policy-check.ts';
import { loadPolicyFile, parsePolicyDocument } from './policy-loader.ts';
import { lastRefusal, noteRefusal, type RunBinding, runWithBinding } from './run-binding.ts';
import type {
  AlertEvent,
  ApprovalRecord,
  AuditEntry,
  AuditRow,
  BeginPlan,
  CapWindow,
  CheckpointRecord,
  FinishInput,
  KeyRecord,
  Store,
} from './store.ts';
import { SqliteStore } from './stores/sqlite-store.ts';
import { toPlainData } from './untrusted-input.ts';
import { type AuthenticatedKey, VaultKeys } from './vault-keys.ts';
import { classifyVendorError, type VendorOutcome } from './vendor-errors.ts';
import { DEFAULT_PROFILES } from './vendors/default-profiles.ts';
import type { CostEstimate, VendorOperation, VendorProfile } from './vendors/vendor-profile.ts';

export interface GuardOptions {
  /** A policy file (YAML or JSON) or a policy document value. */
  policies: string | PolicyDocument;
  /** Where state lives. Default: a SQLite file under `.spendguard/` in the working directory. */
  store?: Store;
  /** The clock, in ms since the epoch. Default: `Date.now`. Tests pass a fake one. */
  now?: () => number;
  /** How long an attempt owns its checkpoint before another may take over. Default: 60 000 ms. */
  leaseMs?: number;
  /** How long a concurrent duplicate waits for the first call before `in_flight`. Default: 10 000 ms. */
  waitTimeoutMs?: number;
  /** Called when a reservation crosses an alert threshold, before the vendor is called. */
  onAlert?: (alert: AlertEvent) => void;
  /**
   * What the guard knows about each vendor: how to price a call before it, settle it after, and
   * whether the vendor deduplicates on our idempotency key (so an unknown outcome may be re-sent).
   * Default: Stripe, Twilio and Resend.
   */
  profiles?: readonly VendorProfile[];
  /** Whether a thrown vendor call surely failed or may have acted. Default: `classifyVendorError`. */
  classifyError?: (error: unknown) => VendorOutcome;
  /**
   * Where the audit anchor key comes from, by reference (`{ env }` or `{ file }`), like vendor
   * credentials. When set, the guard signs the audit chain's head after each call (HMAC-SHA256)
   * and `audit.verify()` checks the signature, so a chain rewritten in the database from its
   * first row fails without the key. The store never holds it. Default: no anchor.
   */
  auditKey?: CredentialSource;
}

export interface ExecuteRequest extends Operation, Attribution {
  /** The vault-key token (`sk_sg_…`). */
  key: string;
  /** An explicit checkpoint key (a business key such as an order id) instead of the content hash. */
  idempotencyKey?: string;
  /** Whose duplicates count: the root key's (default) or only this key's (one run). */
  scope?: 'root' | 'run';
  /**
   * Read a vendor object before the call, for profiles that price from it (a full refund). Given
   * the vendor's real credential; what it reads is not stored.
   */
  lookup?: (path: string, credential: string) => Promise<unknown>;
  /**
   * A human already approved this call through the framework's own approval flow (an adapter
   * sets it); policy approval rules then let it through, and the audit row names who.
   */
  approvedBy?: string;
  /**
   * The front end could not decode the request (a body past a bound, a reserved param name):
   * this sentence says why. The call is denied `request_invalid`, audited under its key.
   */
  invalidRequest?: string;
}

/** One execution of an agent tool, checkpointed as a whole (adapters use this). */
export interface ToolCallRequest extends Attribution {
  /** The vault-key token (usually the run key). */
  key: string;
  /** The tool's name. */
  tool: string;
  /** The tool's input (JSON). */
  input: unknown;
  /** The billing-relevant input fields that make the checkpoint key. Default: all of them. */
  fields?: readonly string[];
  /** Whose duplicates count: the root key's (default) or only this run's. */
  scope?: 'root' | 'run';
  /** An explicit checkpoint key instead of the content hash. */
  idempotencyKey?: string;
  /**
   * A human approved this call in the framework's approval flow; vendor calls inside it go through.
   * Trusted as given: set it only from your application's own approval flow, never from a
   * network request or from model output.
   */
  approvedBy?: string;
  /**
   * What the tool reads besides its input (the framework's tool context, e.g. the AI SDK's
   * `toolsContext` entry): part of the checkpoint key, so two customers' calls never share one.
   * Its `runId` is left out (the run is the key's business). `fields` may name `context.<name>`
   * entries to keep only those. Default: none.
   */
  context?: unknown;
}

export interface VendorCallContext {
  /** Send this as the vendor's idempotency header (`Idempotency-Key`). Same on every re-send. */
  idempotencyKey: string;
  /** The vendor's real secret, resolved when read. Never log it. */
  readonly credential: string;
  /** True when this attempt re-sends one whose outcome was unknown. */
  resumed: boolean;
}

/** What the vendor's answer says, read after the call. */
export interface Settlement {
  /** The actual cost; default: the estimate. */
  cost?: Money;
  /** The vendor gave no price: `cost` is the estimate standing in for it. */
  costIsEstimate?: boolean;
  upstreamStatus?: number;
  upstreamObjectId?: string;
}

export interface ExecuteOptions<T> {
  /**
   * Read the actual cost and the vendor's ids from the result (given the estimate, in the call's
   * currency). Default: the vendor profile reads them.
   */
  settle?: (result: T, estimate: Money | undefined) => Settlement;
}

export interface Guard {
  readonly keys: VaultKeys;
  readonly store: Store;
  /**
   * Checkpoint one tool execution as a whole: a duplicate (same tool, same billing fields, same
   * root key) gets the stored result; a concurrent duplicate waits for the first. No policy
   * operation or cost of its own: the vendor calls inside it are governed one by one.
   */
  executeTool<T>(request: ToolCallRequest, run: () => Promise<T>): Promise<ExecuteDecision<T>>;
  /** Run one vendor call through begin → call → complete/fail; returns a decision, never throws for a call. */
  execute<T>(
    request: ExecuteRequest,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options?: ExecuteOptions<T>,
  ): Promise<ExecuteDecision<T>>;
  readonly approvals: {
    approve(id: string, options?: { by?: string; reason?: string }): Promise<ApprovalRecord>;
    deny(id: string, options?: { by?: string; reason?: string }): Promise<ApprovalRecord>;
    get(id: string): Promise<ApprovalRecord | undefined>;
  };
  readonly audit: {
    list(options?: { afterSeq?: number; limit?: number }): Promise<AuditRow[]>;
    verify(): Promise<AuditVerdict>;
  };
  /**
   * Whether the key's policy wants a human's yes before this call (an approval rule matches it).
   * False when the call would be refused anyway: `execute` says why. Adapters use it to raise the
   * framework's own approval request before running a tool.
   */
  needsApproval(request: ExecuteRequest): Promise<boolean>;
  /** USD spent or reserved by a key: lifetime, this UTC hour and this UTC day. */
  spend(keyId: string): Promise<{ lifetimeUsd: number; hourUsd: number; dayUsd: number }>;
  /**
   * Calls nobody is finishing: an unknown outcome (a timeout, a crash, a vendor without an
   * idempotency key), or a call whose lease ended without a settlement — oldest first. Each still
   * holds its reservation until it is reconciled or, for a vendor that deduplicates, re-sent.
   */
  pending(options?: { limit?: number }): Promise<PendingCall[]>;
  /**
   * A person settles a pending call: `executed` settles the reservation to `costUsd` (default: the
   * estimate), `failed` releases it. Writes an audit row naming who. Throws SpendguardError
   * `checkpoint_unknown` when the call is not pending.
   */
  reconcile(checkpointId: string, settlement: Reconciliation): Promise<CheckpointRecord>;
  /** Replace every vendor secret the guard handed out, in any encoding, with `[redacted]`. */
  redact(text: string): string;
  close(): Promise<void>;
}

/** A call waiting for a person (`guard.pending()`). */
export interface PendingCall {
  checkpointId: string;
  keyId: string;
  runId: string | null;
  vendor: string | null;
  operation: string | null;
  /** The reservation it holds, in USD. */
  reservedUsd: number;
  startedAt: number;
  ageMs: number;
  /** The last attempt's outcome is unknown (otherwise its lease ended with no word). */
  outcomeUnknown: boolean;
  /** Old enough (the policy's `reconcileAfter`) that a person should settle it now. */
  needsReconciliation: boolean;
}

export interface Reconciliation {
  outcome: 'executed' | 'failed';
  /** What it really cost, in USD; default: the reservation. */
  costUsd?: number;
  /** The vendor's id for what it made (`ch_…`). */
  objectId?: string;
  /** Who settled it, for the audit row. */
  by: string;
}

const HOUR = 3_600_000;
/** Settlements kept for the store's return; past this many, pending() still lists the calls. */
const MAX_UNRECORDED = 10_000;
const DAY = 24 * HOUR;
const MINUTE = 60_000;

export function createGuard(options: GuardOptions): Guard {
  const document =
    typeof options.policies === 'string'
      ? loadPolicyFile(options.policies)
      : parsePolicyDocument(options.policies);
  return new SpendGuard(document, options);
}

/** A vendor call priced under its policy, or the refusal that stops it first. */
type Priced =
  | {
      rules: readonly OperationRule[];
      profile: VendorProfile | undefined;
      cost: Money | undefined;
      costMicros: number;
    }
  | { code: DenyCode; message: string; cost?: Money | undefined };

interface PipelineInput<T> {
  request: ExecuteRequest;
  auth: AuthenticatedKey;
  profile: VendorProfile | undefined;
  cost: Money | undefined;
  costMicros: number;
  /** The allow rules the call matched, for approval rules; null for a tool checkpoint. */
  approvalRules: readonly OperationRule[] | null;
  audit: AuditEntry;
  startedAt: number;
  vendorCall: (context: VendorCallContext) => Promise<T>;
  options: ExecuteOptions<T>;
  /** For a tool: the last guarded call refused inside it, which explains why it threw. */
  innerRefusal?: () => ExecuteDecision<unknown> | undefined;
}

interface CallInProgress {
  innerRefusal: (() => ExecuteDecision<unknown> | undefined) | undefined;
  /** A tool checkpoint: no cost, no policy operation, and a thrown tool surely failed. */
  tool: boolean;
  request: ExecuteRequest;
  policy: ResolvedPolicy;
  profile: VendorProfile | undefined;
  /** The estimate, in the call's currency. */
  cost: Money | undefined;
  audit: AuditEntry;
  info: { checkpointKey: string; keyId: string; estimatedCostUsd: number };
  startedAt: number;
}

type WindowSpec = { label: string; capUsd: number | undefined; id: string; expiresAt: number | null };

class SpendGuard implements Guard {
  readonly keys: VaultKeys;
  readonly store: Store;
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #waitTimeoutMs: number;
  readonly #onAlert: ((alert: AlertEvent) => void) | undefined;
  readonly #profiles: ReadonlyMap<string, VendorProfile>;
  readonly #classify: (error: unknown) => VendorOutcome;
  readonly #credentials: Credentials;
  /** Local waiters per checkpoint, woken when this process finishes that checkpoint. */
  readonly #waiters = new Map<string, Set<() => void>>();
  /**
   * Settlements of calls that ran but could not be recorded (the store was down): retried before
   * the next call, so each gets its audit row once the store is back. Until then the call is
   * still in progress in the store, and `pending()` lists it after its lease.
   */
  readonly #unrecorded: FinishInput[] = [];
  readonly #auditKey: Credentials | undefined;
  readonly #document: PolicyDocument;

  constructor(document: PolicyDocument, options: GuardOptions) {
    this.store = options.store ?? new SqliteStore();
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 10_000;
    this.#onAlert = options.onAlert;
    this.#profiles = new Map((options.profiles ?? DEFAULT_PROFILES).map((p) => [p.vendor, p]));
    this.#classify = options.classifyError ?? classifyVendorError;
    this.#credentials = new Credentials(document.credentials);
    this.keys = new VaultKeys(this.store, document, this.#now);
    this.#auditKey = options.auditKey && new Credentials({ audit: options.auditKey });
    this.#document = document;
  }

  readonly approvals = {
    approve: (id: string, o: { by?: string; reason?: string } = {}) =>
      this.#decideApproval(id, 'approved', o),
    deny: (id: string, o: { by?: string; reason?: string } = {}) => this.#decideApproval(id, 'denied', o),
    get: (id: string) => this.store.getApproval(id),
  };

  readonly audit = {
    list: (o?: { afterSeq?: number; limit?: number }) => this.store.readAudit(o),
    verify: async (): Promise<AuditVerdict> => {
      const head = await this.store.auditHead();
      const anchorKey = this.#auditKey?.resolve('audit');
      return verifyAuditChain(await this.store.readAudit(), head, anchorKey ? { anchorKey } : {});
    },
  };

  async needsApproval(untrusted: ExecuteRequest): Promise<boolean> {
    const auth = await this.keys.authenticate(untrusted.key);
    if ('code' in auth) return false;
    const request = plainRequest(untrusted);
    if (typeof request === 'string') return false; // execute refuses it, saying why
    const priced = await this.#price(request, auth.policy);
    return !('code' in priced) && needsApproval(auth.policy, priced.rules, priced.costMicros);
  }

  /**
   * The policy check and the price of a vendor call: its allow rule and estimated cost (in its
   * currency and in USD micros), or why it is refused before anything is reserved.
   */
  async #price(request: ExecuteRequest, policy: ResolvedPolicy): Promise<Priced> {
    const verdict = checkOperation(policy, request);
    if (!verdict.ok) return { code: verdict.code, message: verdict.message };
    const profile = this.#profiles.get(request.vendor);
    const method = request.method.toUpperCase();
    let cost = request.cost;
    let effective: Record<string, unknown> | undefined;
    if (!cost && profile) {
      const estimate = await this.#estimate(profile, request, policy);
      if ('invalid' in estimate) return { code: 'amount_invalid', message: estimate.invalid };
      if ('unknown' in estimate) {
        const stated = estimate.unlisted ? statedCost(policy, verdict.rules) : undefined;
        if (stated === undefined) return { code: 'cost_unknown', message: estimate.unknown };
        cost = stated;
      } else {
        cost = estimate.cost;
        effective = estimate.effective;
      }
    } else if (!cost && method !== 'GET' && method !== 'HEAD') {
      // No profile knows this vendor: a write is priced only by a cost the policy states.
      cost = statedCost(policy, verdict.rules);
      if (!cost) {
        const message = `${request.vendor} ${operationName(request)} has no vendor profile to price it and policy "${policy.name}" states no cost for it (${request.vendor}.costs)`;
        return { code: 'cost_unknown', message };
      }
    }
    const deferred = checkDeferred(request, verdict.deferred, effective);
    if (deferred && !deferred.ok) return { code: deferred.code, message: deferred.message };
    if (cost && !isValidMoney(cost)) {
      return {
        code: 'amount_invalid',
        message: `the call's cost ${describeMoney(cost)} is not a finite, non-negative amount`,
      };
    }
    const costMicros = toUsdMicros(policy, cost);
    if (costMicros === undefined) {
      const currency = (cost?.currency ?? '').toUpperCase().slice(0, 12);
      const message = `no FX rate for ${currency} in policy "${policy.name}": the amount cannot be priced in USD`;
      return { code: 'currency_not_priced', message, cost };
    }
    if (!Number.isSafeInteger(costMicros) || costMicros < 0) {
      return {
        code: 'amount_invalid',
        message: `the call's cost ${describeMoney(cost)} is too large to price`,
      };
    }
    const perCall = policy.caps.perCall;
    if (perCall !== undefined && costMicros > usdToMicros(perCall)) {
      const message = `this call ($${microsToUsd(costMicros).toFixed(2)}) is above the per-call cap of $${perCall.toFixed(2)}`;
      return { code: 'cap_exceeded', message, cost };
    }
    return { rules: verdict.rules, profile, cost, costMicros };
  }

  async spend(keyId: string) {
    const now = this.#now();
    const [life, hour, day] = await Promise.all([
      this.store.getCounter(`${keyId}:life`),
      this.store.getCounter(hourWindow(keyId, now).id),
      this.store.getCounter(dayWindow(keyId, now).id),
    ]);
    return { lifetimeUsd: microsToUsd(life), hourUsd: microsToUsd(hour), dayUsd: microsToUsd(day) };
  }

  async pending(options: { limit?: number } = {}): Promise<PendingCall[]> {
    await this.#recordUnrecorded();
    const now = this.#now();
    const checkpoints = await this.store.listPending({ now, ...options });
    const calls: PendingCall[] = [];
    for (const checkpoint of checkpoints) {
      const key = await this.store.getKey(checkpoint.keyId);
      const ageMs = now - checkpoint.startedAt;
      calls.push({
        checkpointId: checkpoint.id,
        keyId: checkpoint.keyId,
        runId: key?.runId ?? null,
        vendor: checkpoint.vendor,
        operation: checkpoint.operation,
        reservedUsd: microsToUsd(checkpoint.reservedMicros),
        startedAt: checkpoint.startedAt,
        ageMs,
        outcomeUnknown: checkpoint.outcomeUnknown,
        needsReconciliation: ageMs >= this.#reconcileAfterMs(key?.policy) || checkpoint.leaseUntil <= now,
      });
    }
    return calls;
  }

  async reconcile(checkpointId: string, settlement: Reconciliation): Promise<CheckpointRecord> {
    const checkpoint = await this.store.getCheckpoint(checkpointId);
    if (checkpoint?.state !== 'in_progress') {
      throw new SpendguardError(
        'checkpoint_unknown',
        `no pending call with checkpoint ${checkpointId}${checkpoint ? ` (it is ${checkpoint.state})` : ''}`,
      );
    }
    const executed = settlement.outcome === 'executed';
    const costUsd = settlement.costUsd;
    if (costUsd !== undefined && !(Number.isFinite(costUsd) && costUsd >= 0)) {
      throw new SpendguardError('operation_invalid', `costUsd must be a finite, non-negative USD amount`);
    }
    const actualMicros = costUsd === undefined ? checkpoint.reservedMicros : usdToMicros(costUsd);
    const message = `reconciled as ${settlement.outcome} by ${settlement.by}`;
    const finished = await this.store.finish({
      now: this.#now(),
      checkpointId,
      fencingToken: checkpoint.fencingToken,
      outcome: executed ? 'completed' : 'failed',
      ...(executed
        ? {
            actualMicros,
            result: JSON.stringify({ reconciled: true, objectId: settlement.objectId ?? null }),
          }
        : { error: { message } }),
      audit: {
        ...emptyAudit(this.#now()),
        keyId: checkpoint.keyId,
        vendor: checkpoint.vendor,
        operation: checkpoint.operation,
        idempotencyKey: checkpoint.key,
        decision: executed ? 'executed' : 'failed',
        code: 'reconciled',
        message,
        actualCostUsd: executed ? microsToUsd(actualMicros) : null,
        upstreamObjectId: settlement.objectId ?? null,
      },
    });
    if (!finished.ok) {
      throw new SpendguardError(
        'checkpoint_unknown',
        `checkpoint ${checkpointId} was taken over by a newer attempt while it was being reconciled`,
      );
    }
    await this.#anchor();
    return (await this.store.getCheckpoint(checkpointId)) as CheckpointRecord;
  }

  redact(text: string): string {
    return this.#credentials.redact(text);
  }

  /** The policy's `reconcileAfter` (narrowed keys keep their root's). */
  #reconcileAfterMs(policyName: string | undefined): number {
    const input = policyName === undefined ? undefined : this.#document.policies[policyName];
    const ms = input?.reconcileAfter === undefined ? undefined : parseDuration(input.reconcileAfter);
    return ms ?? DEFAULT_RECONCILE_AFTER_MS;
  }

  async close(): Promise<void> {
    await this.#recordUnrecorded();
    await this.store.close();
  }

  /** Try again to record settlements the store refused; stop at the first that still fails. */
  async #recordUnrecorded(): Promise<void> {
    while (this.#unrecorded.length > 0) {
      try {
        await this.store.finish(this.#unrecorded[0] as FinishInput);
      } catch {
        return;
      }
      this.#unrecorded.shift();
    }
  }

  /** Sign the audit chain's head with the audit key, when one is configured. */
  async #anchor(): Promise<void> {
    if (!this.#auditKey) return;
    try {
      const head = await this.store.auditHead();
      if (head)
        await this.store.anchorAudit(auditAnchor(this.#auditKey.resolve('audit'), head.seq, head.hash));
    } catch {
      // The next call anchors again; verify reports how far the anchor reaches.
    }
  }

  async execute<T>(
    request: ExecuteRequest,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options: ExecuteOptions<T> = {},
  ): Promise<ExecuteDecision<T>> {
    await this.#recordUnrecorded();
    const decision = await this.#executeVendorCall(request, vendorCall, options);
    if (decision.decision !== 'executed' && decision.decision !== 'replayed') noteRefusal(decision);
    await this.#anchor();
    return decision;
  }

  async #executeVendorCall<T>(
    untrusted: ExecuteRequest,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options: ExecuteOptions<T>,
  ): Promise<ExecuteDecision<T>> {
    const startedAt = performance.now();
    const audit = this.#auditBase(untrusted);
    const auth = await this.#authenticate<T>(untrusted.key, audit);
    if ('decision' in auth) return auth;
    if (untrusted.invalidRequest !== undefined) {
      return this.#deny('request_invalid', untrusted.invalidRequest, audit);
    }
    const request = plainRequest(untrusted);
    if (typeof request === 'string') return this.#deny('request_invalid', request, audit);
    const priced = await this.#price(request, auth.policy);
    if (priced.cost && isValidMoney(priced.cost)) {
      audit.amount = priced.cost.amount;
      audit.currency = priced.cost.currency.toLowerCase();
    }
    if ('code' in priced) return this.#deny(priced.code, priced.message, audit);
    const { rules, profile, cost, costMicros } = priced;
    audit.estimatedCostUsd = microsToUsd(costMicros);

    return this.#pipeline({
      request,
      auth,
      profile,
      cost,
      costMicros,
      approvalRules: rules,
      audit,
      startedAt,
      vendorCall,
      options,
    });
  }

  async executeTool<T>(request: ToolCallRequest, run: () => Promise<T>): Promise<ExecuteDecision<T>> {
    await this.#recordUnrecorded();
    const decision = await this.#executeToolCall(request, run);
    await this.#anchor();
    return decision;
  }

  async #executeToolCall<T>(request: ToolCallRequest, run: () => Promise<T>): Promise<ExecuteDecision<T>> {
    const startedAt = performance.now();
    const operation: ExecuteRequest = {
      ...request,
      vendor: 'tool',
      method: 'CALL',
      path: request.tool,
      // What the checkpoint binds to: the billing fields of the input and the tool's context.
      params: {
        input: pickFields(request.input, inputFields(request.fields)),
        context: pickFields(withoutRunId(request.context), contextFields(request.fields)) ?? null,
      },
    };
    const audit = this.#auditBase(operation);
    const auth = await this.#authenticate<T>(request.key, audit);
    if ('decision' in auth) return auth;
    // The tool runs bound to its key and ids, so governed clients inside it need no parameters.
    const binding: RunBinding = { key: request.key };
    for (const field of ['runId', 'agentId', 'toolCallId', 'traceId', 'approvedBy'] as const) {
      if (request[field] !== undefined) binding[field] = request[field];
    }
    return this.#pipeline({
      request: operation,
      auth,
      profile: undefined,
      cost: undefined,
      costMicros: 0,
      approvalRules: null,
      audit,
      startedAt,
      vendorCall: () => runWithBinding(binding, run),
      options: {},
      innerRefusal: () => lastRefusal(binding),
    });
  }

  /** Key, then the one pipeline: plan, begin (waiting for duplicates), the call, finish. */
  async #pipeline<T>(p: PipelineInput<T>): Promise<ExecuteDecision<T>> {
    const { request, auth, profile, cost, costMicros, audit, startedAt, vendorCall, options } = p;
    const { key, policy } = auth;
    const tool = p.approvalRules === null && request.vendor === 'tool';
    if (request.approvedBy && p.approvalRules && needsApproval(policy, p.approvalRules, costMicros)) {
      audit.message = `approved by ${request.approvedBy}`;
    }
    let fingerprint: string;
    try {
      // What the vendor would see: form-encoded vendors read every scalar as text.
      fingerprint = contentHash(
        [
          request.vendor,
          request.method.toUpperCase(),
          request.path,
          request.params ?? {},
          request.account ?? null,
        ],
        { formEncoded: profile?.formEncoded === true },
      );
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      return this.#deny('request_invalid', error.message.replace(/^canonicalJson: /, ''), audit);
    }
    const scopeId = request.scope === 'run' ? key.id : key.rootId;
    const checkpointKey = request.idempotencyKey ?? contentHash([scopeId, fingerprint]);
    // A content key already names its scope; a business key is namespaced by it here.
    const checkpointId =
      request.idempotencyKey === undefined
        ? checkpointKey
        : sha256Hex(`${scopeId}\n${request.idempotencyKey}`);
    audit.idempotencyKey = checkpointKey;
    const now = this.#now();
    const plan: BeginPlan = {
      now,
      chain: key.chain,
      keyId: key.id,
      checkpointId,
      checkpointKey,
      fingerprint,
      leaseMs: this.#leaseMs,
      dedupWindowMs: policy.dedupWindowMs,
      // A tool's vendor calls are checkpointed on their own, so a lapsed tool may run again.
      vendorIdempotent: tool || !!profile?.idempotencyHeader,
      costMicros,
      windows: tool ? [] : capWindows(auth, now),
      rates: tool
        ? []
        : auth.chain.flatMap((k, i) => {
            const limit = auth.policies[i]?.ratePerMinute;
            const minute = Math.floor(now / MINUTE);
            return limit === undefined
              ? []
              : [{ id: `${k.id}:rate:${minute}`, keyId: k.id, limit, expiresAt: (minute + 2) * MINUTE }];
          }),
      approval:
        p.approvalRules && !request.approvedBy && needsApproval(policy, p.approvalRules, costMicros)
          ? {
              // One approval, one call: another call under the same business key asks again.
              id: `apr_${sha256Hex(`${checkpointId}\n${fingerprint}`).slice(0, 24)}`,
              checkpointId,
              keyId: key.id,
              vendor: request.vendor,
              operation: operationName(request),
              costMicros,
              fingerprint,
              account: request.account ?? null,
              ttlMs: policy.approval?.ttlMs ?? DEFAULT_APPROVAL_TTL_MS,
              createdAt: now,
            }
          : null,
      audit,
    };
    const info = { checkpointKey, keyId: key.id, estimatedCostUsd: microsToUsd(costMicros) };

    const waitUntil = performance.now() + this.#waitTimeoutMs;
    let waited = false;
    for (;;) {
      let begun: Awaited<ReturnType<Store['begin']>>;
      try {
        begun = await this.store.begin({ ...plan, now: this.#now() });
      } catch (error) {
        return this.#storeDown(error);
      }
      switch (begun.kind) {
        case 'denied':
          return { decision: 'denied', code: begun.code, message: begun.message, ...info };
        case 'needs_approval':
          return {
            decision: 'needs_approval',
            code: 'approval_required',
            approvalId: begun.approvalId,
            message: `a human must approve this call first (approval ${begun.approvalId})`,
            ...info,
          };
        case 'replay':
          return this.#replayed(begun.checkpoint, waited, info);
        case 'proceed':
          return this.#run(
            begun,
            { request, policy, profile, cost, audit, info, startedAt, tool, innerRefusal: p.innerRefusal },
            vendorCall,
            options,
          );
        case 'wait': {
          waited = true;
          const settled = await this.#waitFor(begun.checkpoint, waitUntil);
          if (settled === 'timeout') {
            const message =
              'an identical call is still in flight; it did not finish in time to share its result';
            return this.#deny('in_flight', message, audit, info);
          }
          if (settled.state === 'failed' && settled.generation === begun.checkpoint.generation) {
            // The call we waited on surely failed: report its failure rather than trying again.
            const error = settled.error ?? { message: 'the vendor call failed' };
            const row = await this.#appendAudit({
              ...audit,
              decision: 'failed',
              code: 'vendor_error',
              message: error.message,
            });
            return {
              decision: 'failed',
              code: 'vendor_error',
              message: `the identical call this one waited for failed: ${error.message}`,
              idempotencyKey: vendorKey(settled),
              error,
              ...info,
              ...(row && { auditSeq: row.seq }),
            };
          }
          if (settled.state === 'in_progress' && settled.outcomeUnknown && settled.leaseUntil > this.#now()) {
            const retryAt = new Date(settled.leaseUntil).toISOString();
            const message = `an identical call may have reached the vendor (outcome unknown); it can be retried after ${retryAt}`;
            return this.#deny('outcome_unknown', message, audit, info);
          }
          continue; // completed (replay), or the lease ended (take over): begin again decides.
        }
      }
    }
  }

  /** Check the token and fill the audit row's key fields; a refusal comes back as a decision. */
  async #authenticate<T>(token: string, audit: AuditEntry): Promise<AuthenticatedKey | ExecuteDecision<T>> {
    let auth: Awaited<ReturnType<VaultKeys['authenticate']>>;
    try {
      auth = await this.keys.authenticate(token);
    } catch (error) {
      return this.#storeDown(error);
    }
    if ('code' in auth) {
      const key = auth.key;
      return this.#deny(auth.code, auth.message, {
        ...audit,
        keyId: key?.id ?? null,
        rootKeyId: key?.rootId ?? null,
      });
    }
    audit.keyId = auth.key.id;
    audit.rootKeyId = auth.key.rootId;
    audit.runId = audit.runId ?? auth.key.runId;
    return auth;
  }

  /** The vendor call and its settlement, once begin has leased the checkpoint to this attempt. */
  async #run<T>(
    { checkpoint, alerts, resumed }: { checkpoint: CheckpointRecord; alerts: AlertEvent[]; resumed: boolean },
    call: CallInProgress,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options: ExecuteOptions<T>,
  ): Promise<ExecuteDecision<T>> {
    const { request, policy, profile, cost, audit, info, startedAt, tool } = call;
    for (const alert of alerts) this.#fireAlert(alert);
    const idempotencyKey = vendorKey(checkpoint);
    const credentials = this.#credentials;
    const context: VendorCallContext = {
      idempotencyKey,
      get credential() {
        return credentials.resolve(request.vendor);
      },
      resumed,
    };
    let result: T;
    try {
      result = await vendorCall(context);
    } catch (error) {
      const inner = call.innerRefusal?.();
      if (inner) return this.#toolRefused<T>(checkpoint, inner, call);
      // A tool that throws is re-runnable: the vendor calls inside it are checkpointed themselves.
      const outcome = tool ? 'failed' : this.#classify(error);
      const status = statusOf(error);
      const message = this.#credentials.redact(error instanceof Error ? error.message : String(error));
      const code = outcome === 'failed' ? 'vendor_error' : 'outcome_unknown';
      const finished = await this.#finish({
        now: this.#now(),
        checkpointId: checkpoint.id,
        fencingToken: checkpoint.fencingToken,
        outcome,
        error: { message, ...(status !== undefined && { status }) },
        audit: {
          ...audit,
          decision: 'failed',
          code,
          message,
          upstreamStatus: status ?? null,
          latencyMs: elapsed(startedAt),
        },
      });
      return {
        decision: 'failed',
        code,
        message:
          outcome === 'failed'
            ? `the vendor call failed: ${message}`
            : `the vendor call may have acted (${message}); a retry re-sends with the same idempotency key`,
        idempotencyKey,
        error: { message, ...(status !== undefined && { status }) },
        ...info,
        ...(finished && { auditSeq: finished.seq }),
      };
    }

    const settlement: Settlement =
      options.settle?.(result, cost) ?? profile?.settle(operationOf(request), result, cost) ?? {};
    // An actual cost that is garbled, or in a currency without a rate, keeps the estimate rather
    // than guessing: a counter never takes a NaN or a negative amount.
    const settled =
      settlement.cost && isValidMoney(settlement.cost) ? toUsdMicros(policy, settlement.cost) : undefined;
    const actualMicros =
      settled !== undefined && Number.isSafeInteger(settled) && settled >= 0
        ? settled
        : checkpoint.reservedMicros;
    const stored = this.#credentials.redact(JSON.stringify(result) ?? 'null');
    const finished = await this.#finish({
      now: this.#now(),
      checkpointId: checkpoint.id,
      fencingToken: checkpoint.fencingToken,
      outcome: 'completed',
      result: stored,
      actualMicros,
      audit: {
        ...audit,
        decision: 'executed',
        code: 'executed',
        actualCostUsd: microsToUsd(actualMicros),
        actualCostIsEstimate: settlement.costIsEstimate ?? false,
        upstreamStatus: settlement.upstreamStatus ?? null,
        upstreamObjectId: settlement.upstreamObjectId ?? null,
        latencyMs: elapsed(startedAt),
      },
    });
    return {
      decision: 'executed',
      code: finished ? 'executed' : 'executed_not_recorded',
      message: finished
        ? 'the vendor call ran once'
        : 'the vendor call ran, but the store could not record it; it is recorded once the store is back',
      result: JSON.parse(stored) as T,
      idempotencyKey,
      actualCostUsd: microsToUsd(actualMicros),
      actualCostIsEstimate: settlement.costIsEstimate ?? false,
      ...info,
      ...(finished && { auditSeq: finished.seq }),
    };
  }

  /**
   * A tool threw because a guarded call inside it was refused: the tool's checkpoint fails (it may
   * run again) and its decision is that refusal, so the model reads the real reason and a revoked
   * key still stops the run.
   */
  async #toolRefused<T>(
    checkpoint: CheckpointRecord,
    inner: ExecuteDecision<unknown>,
    call: CallInProgress,
  ): Promise<ExecuteDecision<T>> {
    const decision =
      inner.decision === 'needs_approval'
        ? 'needs_approval'
        : inner.decision === 'failed'
          ? 'failed'
          : 'denied';
    const finished = await this.#finish({
      now: this.#now(),
      checkpointId: checkpoint.id,
      fencingToken: checkpoint.fencingToken,
      outcome: 'failed',
      error: { message: inner.message },
      audit: {
        ...call.audit,
        decision,
        code: inner.code,
        message: inner.message,
        latencyMs: elapsed(call.startedAt),
      },
    });
    return { ...inner, ...call.info, ...(finished && { auditSeq: finished.seq }) } as ExecuteDecision<T>;
  }

  /** Settle and wake local waiters; a store failure here must not hide the vendor's answer. */
  async #finish(input: FinishInput): Promise<AuditRow | undefined> {
    try {
      return (await this.store.finish(input)).audit;
    } catch {
      if (this.#unrecorded.length < MAX_UNRECORDED) this.#unrecorded.push(input);
      return undefined;
    } finally {
      const waiters = this.#waiters.get(input.checkpointId);
      if (waiters) for (const wake of waiters) wake();
    }
  }

  async #estimate(
    profile: VendorProfile,
    request: ExecuteRequest,
    policy: ResolvedPolicy,
  ): Promise<CostEstimate> {
    try {
      const read = request.lookup;
      const lookup = read && ((path: string) => read(path, this.#credentials.resolve(request.vendor)));
      return await profile.estimate(operationOf(request), { policy, ...(lookup && { lookup }) });
    } catch (error) {
      return {
        unknown: `the ${profile.vendor} call could not be priced: ${this.#credentials.redact(String(error))}`,
      };
    }
  }

  /** Wait, bounded, for an in-flight checkpoint to complete, fail or lose its lease. */
  async #waitFor(checkpoint: CheckpointRecord, until: number): Promise<CheckpointRecord | 'timeout'> {
    let delay = 1;
    for (;;) {
      const left = until - performance.now();
      if (left <= 0) return 'timeout';
      await this.#sleepOrWake(checkpoint.id, Math.min(delay, left));
      delay = Math.min(delay * 2, 50);
      let current: CheckpointRecord | undefined;
      try {
        current = await this.store.getCheckpoint(checkpoint.id);
      } catch {
        continue;
      }
      if (current?.state !== 'in_progress' || current.fencingToken !== checkpoint.fencingToken) {
        return current ?? checkpoint;
      }
      // Lease over, or its owner already reported an unknown outcome: no one is working on it.
      if (current.leaseUntil <= this.#now() || current.outcomeUnknown) return current;
    }
  }

  async #sleepOrWake(checkpointId: string, ms: number): Promise<void> {
    const controller = new AbortController();
    let waiters = this.#waiters.get(checkpointId);
    if (!waiters) {
      waiters = new Set();
      this.#waiters.set(checkpointId, waiters);
    }
    const wake = () => controller.abort();
    waiters.add(wake);
    try {
      await sleep(ms, undefined, { signal: controller.signal });
    } catch {
      // woken early: the checkpoint was finished in this process
    } finally {
      waiters.delete(wake);
      if (waiters.size === 0) this.#waiters.delete(checkpointId);
    }
  }

  #replayed<T>(
    checkpoint: CheckpointRecord,
    waited: boolean,
    info: { checkpointKey: string; keyId: string; estimatedCostUsd: number },
  ): ExecuteDecision<T> {
    return {
      decision: 'replayed',
      code: waited ? 'replayed_after_wait' : 'replayed',
      message: 'an identical call already ran; its stored result is returned and the vendor was not called',
      result: JSON.parse(checkpoint.result ?? 'null') as T,
      idempotencyKey: vendorKey(checkpoint),
      actualCostUsd: microsToUsd(checkpoint.actualMicros ?? 0),
      ...info,
      estimatedCostUsd: 0,
    };
  }

  async #deny<T>(
    code: DenyCode,
    message: string,
    audit: AuditEntry,
    info: Partial<{ checkpointKey: string; keyId: string; estimatedCostUsd: number }> = {},
  ): Promise<ExecuteDecision<T>> {
    const row = await this.#appendAudit({ ...audit, decision: 'denied', code, message });
    return { decision: 'denied', code, message, ...info, ...(row && { auditSeq: row.seq }) };
  }

  #storeDown<T>(error: unknown): ExecuteDecision<T> {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      decision: 'denied',
      code: 'store_unavailable',
      message: `the spendguard store (${this.store.kind}) is unavailable, so the call was not made: ${this.#credentials.redact(reason)}`,
    };
  }

  async #appendAudit(entry: AuditEntry): Promise<AuditRow | undefined> {
    try {
      return await this.store.appendAudit(entry);
    } catch {
      return undefined;
    }
  }

  #fireAlert(alert: AlertEvent): void {
    if (!this.#onAlert) return;
    try {
      const pending = this.#onAlert(alert) as unknown;
      if (pending instanceof Promise) pending.catch(() => {});
    } catch {
      // An alert hook must never block or break the call it reports on.
    }
  }

  async #decideApproval(
    id: string,
    verdict: 'approved' | 'denied',
    o: { by?: string; reason?: string },
  ): Promise<ApprovalRecord> {
    const decided = await this.store.decideApproval({
      id,
      verdict,
      by: o.by ?? null,
      reason: o.reason ?? null,
      now: this.#now(),
      audit: (approval) => ({
        ...emptyAudit(this.#now()),
        keyId: approval.keyId,
        vendor: approval.vendor,
        operation: approval.operation,
        decision: verdict === 'approved' ? 'approved' : 'denied',
        code: verdict === 'approved' ? 'approval_granted' : 'approval_denied',
        message: `approval ${approval.id} ${verdict}${o.by ? ` by ${o.by}` : ''}${o.reason ? `: ${o.reason}` : ''}`,
        estimatedCostUsd: microsToUsd(approval.costMicros),
      }),
    });
    if (!decided) throw new SpendguardError('approval_unknown', `no approval with id ${id}`);
    return decided;
  }

  #auditBase(request: ExecuteRequest): AuditEntry {
    return {
      ...emptyAudit(this.#now()),
      runId: request.runId ?? null,
      agentId: request.agentId ?? null,
      toolCallId: request.toolCallId ?? null,
      traceId: request.traceId ?? null,
      vendor: request.vendor,
      operation: operationName(request),
    };
  }
}

/**
 * The request with its params as a plain copy (null-prototype, bounded, JSON data only), which is
 * all the pipeline reads from here on; or the sentence saying why they can't be decoded.
 */
function plainRequest(request: ExecuteRequest): ExecuteRequest | string {
  try {
    return { ...request, params: toPlainData(request.params ?? {}, 'params') as Record<string, unknown> };
  } catch (error) {
    if (error instanceof RequestInvalidError) return error.message;
    throw error;
  }
}

/** An amount of money that can be priced: a finite, non-negative number in a named currency. */
function isValidMoney(money: Money): boolean {
  return (
    typeof money.amount === 'number' &&
    Number.isFinite(money.amount) &&
    money.amount >= 0 &&
    typeof money.currency === 'string' &&
    money.currency.length > 0
  );
}

function describeMoney(money: Money | undefined): string {
  if (!money) return '(none)';
  const currency = typeof money.currency === 'string' ? money.currency.slice(0, 12) : typeof money.currency;
  return `${String(money.amount).slice(0, 24)} ${currency}`;
}

/**
 * The USD cost the policy states (`<vendor>.costs`) for an operation no profile prices; with
 * several matching rules, the highest.
 */
function statedCost(policy: ResolvedPolicy, rules: readonly OperationRule[]): Money | undefined {
  let usd: number | undefined;
  for (const rule of rules) {
    const stated = Object.hasOwn(policy.costs, rule.id) ? policy.costs[rule.id] : undefined;
    if (stated !== undefined && (usd === undefined || stated > usd)) usd = stated;
  }
  return usd === undefined ? undefined : { amount: usd, currency: 'usd' };
}

/** The `fields` that name input fields, or undefined for the whole input. */
function inputFields(fields: readonly string[] | undefined): readonly string[] | undefined {
  const named = fields?.filter((f) => !f.startsWith('context.'));
  return named && named.length > 0 ? named : undefined;
}

/** The context entries `fields` names (`context.customer` → `customer`), or undefined for all. */
function contextFields(fields: readonly string[] | undefined): readonly string[] | undefined {
  const named = fields?.filter((f) => f.startsWith('context.')).map((f) => f.slice('context.'.length));
  return named && named.length > 0 ? named : undefined;
}

/** A tool context without its `runId`: the run is the key's business, not the call's effect. */
function withoutRunId(context: unknown): unknown {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) return context;
  if (!Object.hasOwn(context, 'runId')) return context;
  const { runId: _runId, ...rest } = context as Record<string, unknown>;
  return rest;
}

/** The named fields of a tool input, or all of it. */
function pickFields(input: unknown, fields: readonly string[] | undefined): unknown {
  if (!fields || input === null || typeof input !== 'object') return input;
  const record = input as Record<string, unknown>;
  return Object.fromEntries(fields.map((f) => [f, record[f]]));
}

function operationOf(request: ExecuteRequest): VendorOperation {
  return { method: request.method.toUpperCase(), path: request.path, params: request.params ?? {} };
}

function emptyAudit(time: number): AuditEntry {
  return {
    time,
    keyId: null,
    rootKeyId: null,
    runId: null,
    agentId: null,
    toolCallId: null,
    vendor: null,
    operation: null,
    idempotencyKey: null,
    decision: 'denied',
    code: '',
    message: null,
    estimatedCostUsd: null,
    actualCostUsd: null,
    actualCostIsEstimate: null,
    amount: null,
    currency: null,
    upstreamStatus: null,
    upstreamObjectId: null,
    latencyMs: null,
    traceId: null,
  };
}

/** The idempotency key the vendor sees: one per checkpoint generation, the same on every re-send. */
function vendorKey(checkpoint: CheckpointRecord): string {
  return `sg_${checkpoint.id.slice(0, 40)}_${checkpoint.generation}`;
}

function hourWindow(keyId: string, now: number) {
  const hour = Math.floor(now / HOUR);
  return { id: `${keyId}:hour:${hour}`, expiresAt: (hour + 1) * HOUR };
}

let lastDay = { day: -1, label: '' };
function dayWindow(keyId: string, now: number) {
  const day = Math.floor(now / DAY);
  // Formatting a date on every call shows up in profiles; the label only changes once a day.
  if (lastDay.day !== day) lastDay = { day, label: new Date(day * DAY).toISOString().slice(0, 10) };
  return { id: `${keyId}:day:${lastDay.label}`, expiresAt: (day + 1) * DAY };
}

/** Every window the call counts against: lifetime (or run), hour and day, of the key and each ancestor. */
function capWindows(auth: AuthenticatedKey, now: number): CapWindow[] {
  const windows: CapWindow[] = [];
  auth.chain.forEach((k: KeyRecord, i) => {
    const policy = auth.policies[i] as ResolvedPolicy;
    const caps = policy.caps;
    const isRun = k.parentId !== null;
    const lifeCap = minDefined(caps.perKey, isRun ? caps.perRun : undefined);
    const specs: WindowSpec[] = [
      {
        label: isRun && caps.perRun !== undefined ? 'run' : 'key lifetime',
        capUsd: lifeCap,
        id: `${k.id}:life`,
        expiresAt: null,
      },
      { label: 'hourly', capUsd: caps.perHour, ...hourWindow(k.id, now) },
      { label: 'daily', capUsd: caps.perDay, ...dayWindow(k.id, now) },
    ];
    for (const spec of specs) {
      // The key's own lifetime spend is always counted (for reports); other windows only when capped.
      if (spec.capUsd === undefined && !(k.id === auth.key.id && spec.expiresAt === null)) continue;
      windows.push({
        id: spec.id,
        keyId: k.id,
        label: spec.label,
        capMicros: spec.capUsd === undefined ? null : usdToMicros(spec.capUsd),
        alerts: spec.capUsd === undefined ? [] : policy.alerts,
        expiresAt: spec.expiresAt,
      });
    }
  });
  return windows;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function statusOf(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as { status?: unknown; statusCode?: unknown };
  if (typeof e.status === 'number') return e.status;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}
