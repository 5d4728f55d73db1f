import type { AuditVerdict } from './audit-chain.ts';
import { auditAnchor, type VerifyAuditLogOptions, verifyAuditLog } from './audit-chain.ts';
import { Credentials } from './credentials.ts';
import type { ExecuteDecision } from './decision.ts';
import { parseDuration } from './duration.ts';
import { SpendguardError } from './errors.ts';
import { callAudit, emptyAudit } from './pipeline/audit-entries.ts';
import { dayWindow, hourWindow, lifetimeCounterId } from './pipeline/call-plan.ts';
import { CheckpointWaiters } from './pipeline/checkpoint-waiters.ts';
import { isValidMoney, plainRequest, priceCall } from './pipeline/pricing.ts';
import {
  listPendingCalls,
  type PendingCall,
  type Reconciliation,
  reconcileCall,
} from './pipeline/reconcile.ts';
import { authenticateCall, denyCall, type PipelineContext, runCall } from './pipeline/run-call.ts';
import { toolCheckpointRequest } from './pipeline/tool-checkpoint.ts';
import { type CredentialSource, DEFAULT_RECONCILE_AFTER_MS, type PolicyDocument } from './policy.ts';
import { microsToUsd, needsApproval } from './policy-check.ts';
import { loadPolicyFile, parsePolicyDocument } from './policy-loader.ts';
import type { ExecuteOptions, ExecuteRequest, ToolCallRequest, VendorCallContext } from './requests.ts';
import { lastRefusal, noteRefusal, type RunBinding, runWithBinding } from './run-binding.ts';
import type {
  AlertEvent,
  ApprovalQuery,
  ApprovalRecord,
  AuditQuery,
  AuditRow,
  CheckpointRecord,
  FinishInput,
  Store,
} from './store.ts';
import { SqliteStore } from './stores/sqlite-store.ts';
import { decisionAttributes, inSpan, loadTelemetry, SPANS } from './telemetry.ts';
import { VaultKeys } from './vault-keys.ts';
import { classifyVendorError, type VendorOutcome } from './vendor-errors.ts';
import { DEFAULT_PROFILES } from './vendors/default-profiles.ts';
import type { VendorProfile } from './vendors/vendor-profile.ts';

export type { PendingCall, Reconciliation } from './pipeline/reconcile.ts';
export type {
  ExecuteOptions,
  ExecuteRequest,
  Settlement,
  ToolCallRequest,
  VendorCallContext,
} from './requests.ts';

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

/** How `audit.verify` reads the log: page size and a progress callback. */
export type AuditVerifyOptions = Omit<VerifyAuditLogOptions, 'anchorKey'>;

/** What a key has spent or reserved in USD, and the caps of its own windows (null: uncapped). */
export interface KeySpend {
  lifetimeUsd: number;
  hourUsd: number;
  dayUsd: number;
  /** The key's own caps: lifetime (the lower of `perKey` and, for a run key, `perRun`), hour, day. */
  caps: { lifetimeUsd: number | null; hourUsd: number | null; dayUsd: number | null };
  /** Alert thresholds in percent of each cap, from the key's policy. */
  alerts: number[];
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
    /** Approvals oldest first, e.g. `{ state: 'pending' }`: what waits for a person. Default limit 100. */
    list(query?: ApprovalQuery): Promise<ApprovalRecord[]>;
  };
  readonly audit: {
    /** Audit rows in seq order, filtered (key, root, run, decision, code, vendor, time, trace) and paged. */
    list(query?: AuditQuery): Promise<AuditRow[]>;
    /** Recompute the whole chain against the head (and anchor), page by page in constant memory. */
    verify(options?: AuditVerifyOptions): Promise<AuditVerdict>;
  };
  /**
   * Whether the key's policy wants a human's yes before this call (an approval rule matches it).
   * False when the call would be refused anyway: `execute` says why. Adapters use it to raise the
   * framework's own approval request before running a tool.
   */
  needsApproval(request: ExecuteRequest): Promise<boolean>;
  /** USD spent or reserved by a key (lifetime, this UTC hour, this UTC day), and its own caps on each. */
  spend(keyId: string): Promise<KeySpend>;
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

export function createGuard(options: GuardOptions): Guard {
  const document =
    typeof options.policies === 'string'
      ? loadPolicyFile(options.policies)
      : parsePolicyDocument(options.policies);
  return new SpendGuard(document, options);
}

/**
 * The facade: keys, approvals, audit, spend and pending calls, and the two entry points. Each
 * call's steps live in pipeline/: pricing, the plan (ids and windows), the run loop, the bounded
 * wait, audit entries, reconciliation.
 */
class SpendGuard implements Guard {
  readonly keys: VaultKeys;
  readonly store: Store;
  readonly #now: () => number;
  readonly #profiles: ReadonlyMap<string, VendorProfile>;
  readonly #credentials: Credentials;
  readonly #pipeline: PipelineContext;
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
    void loadTelemetry();
    this.#now = options.now ?? Date.now;
    this.#profiles = new Map((options.profiles ?? DEFAULT_PROFILES).map((p) => [p.vendor, p]));
    this.#credentials = new Credentials(document.credentials);
    this.keys = new VaultKeys(this.store, document, this.#now);
    this.#auditKey = options.auditKey && new Credentials({ audit: options.auditKey });
    this.#document = document;
    this.#pipeline = {
      store: this.store,
      now: this.#now,
      leaseMs: options.leaseMs ?? 60_000,
      waitTimeoutMs: options.waitTimeoutMs ?? 10_000,
      credentials: this.#credentials,
      classify: options.classifyError ?? classifyVendorError,
      waiters: new CheckpointWaiters(),
      onAlert: options.onAlert,
      unrecorded: this.#unrecorded,
    };
  }

  readonly approvals = {
    approve: (id: string, o: { by?: string; reason?: string } = {}) =>
      this.#decideApproval(id, 'approved', o),
    deny: (id: string, o: { by?: string; reason?: string } = {}) => this.#decideApproval(id, 'denied', o),
    get: (id: string) => this.store.getApproval(id),
    list: (query?: ApprovalQuery) => this.store.listApprovals(query),
  };

  readonly audit = {
    list: (query?: AuditQuery) => this.store.readAudit(query),
    verify: async (options: AuditVerifyOptions = {}): Promise<AuditVerdict> => {
      // The head before the rows: rows appended in between chain on from it.
      const head = await this.store.auditHead();
      const anchorKey = this.#auditKey?.resolve('audit');
      return verifyAuditLog((afterSeq, limit) => this.store.readAudit({ afterSeq, limit }), head, {
        ...options,
        ...(anchorKey && { anchorKey }),
      });
    },
  };

  async execute<T>(
    request: ExecuteRequest,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options: ExecuteOptions<T> = {},
  ): Promise<ExecuteDecision<T>> {
    if (this.#unrecorded.length > 0) await this.#recordUnrecorded();
    const decision = await inSpan(
      SPANS.execute,
      {},
      () => this.#executeVendorCall(request, vendorCall, options),
      (d) => ({
        ...decisionAttributes(d),
        ...('keyId' in d && d.keyId !== undefined && { 'spendguard.key_id': d.keyId }),
        // Named only for a vendor spendguard knows: the request is untrusted.
        ...(this.#profiles.has(request.vendor) && {
          'spendguard.vendor': request.vendor,
          'spendguard.operation': this.redact(
            `${String(request.method).toUpperCase()} ${String(request.path).split('?')[0]}`,
          ).replace(/sk_sg_[0-9a-zA-Z]+/g, '[redacted]'),
        }),
      }),
    );
    if (decision.decision !== 'executed' && decision.decision !== 'replayed') noteRefusal(decision);
    if (this.#auditKey) await this.#anchor();
    return decision;
  }

  async #executeVendorCall<T>(
    untrusted: ExecuteRequest,
    vendorCall: (context: VendorCallContext) => Promise<T>,
    options: ExecuteOptions<T>,
  ): Promise<ExecuteDecision<T>> {
    const startedAt = performance.now();
    const audit = callAudit(untrusted, this.#now());
    const auth = await authenticateCall<T>(this.#pipeline, this.keys, untrusted.key, audit);
    if ('decision' in auth) return auth;
    if (untrusted.invalidRequest !== undefined) {
      return denyCall(this.#pipeline, 'request_invalid', untrusted.invalidRequest, audit);
    }
    const request = plainRequest(untrusted);
    if (typeof request === 'string') return denyCall(this.#pipeline, 'request_invalid', request, audit);
    const profile = this.#profiles.get(request.vendor);
    const priced = await priceCall(request, auth.policy, profile, this.#credentials);
    if (priced.cost && isValidMoney(priced.cost)) {
      audit.amount = priced.cost.amount;
      audit.currency = priced.cost.currency.toLowerCase();
    }
    if ('code' in priced) return denyCall(this.#pipeline, priced.code, priced.message, audit);
    audit.estimatedCostUsd = microsToUsd(priced.costMicros);
    return runCall(this.#pipeline, {
      call: { kind: 'vendor', rules: priced.rules, profile: priced.profile, cost: priced.cost },
      request,
      auth,
      costMicros: priced.costMicros,
      audit,
      startedAt,
      vendorCall,
      options,
    });
  }

  async executeTool<T>(request: ToolCallRequest, run: () => Promise<T>): Promise<ExecuteDecision<T>> {
    if (this.#unrecorded.length > 0) await this.#recordUnrecorded();
    const startedAt = performance.now();
    const checkpointed = toolCheckpointRequest(request);
    const audit = callAudit(checkpointed, this.#now());
    const auth = await authenticateCall<T>(this.#pipeline, this.keys, request.key, audit);
    if ('decision' in auth) return auth;
    // The tool runs bound to its key and ids, so governed clients inside it need no parameters.
    const binding: RunBinding = { key: request.key };
    for (const field of ['runId', 'agentId', 'toolCallId', 'traceId', 'approvedBy'] as const) {
      if (request[field] !== undefined) binding[field] = request[field];
    }
    const decision = await runCall(this.#pipeline, {
      call: { kind: 'tool', innerRefusal: () => lastRefusal(binding) },
      request: checkpointed,
      auth,
      costMicros: 0,
      audit,
      startedAt,
      vendorCall: () => runWithBinding(binding, run),
      options: {},
    });
    if (this.#auditKey) await this.#anchor();
    return decision;
  }

  async needsApproval(untrusted: ExecuteRequest): Promise<boolean> {
    const auth = await this.keys.authenticate(untrusted.key);
    if ('code' in auth) return false;
    const request = plainRequest(untrusted);
    if (typeof request === 'string') return false; // execute refuses it, saying why
    const profile = this.#profiles.get(request.vendor);
    const priced = await priceCall(request, auth.policy, profile, this.#credentials);
    return !('code' in priced) && needsApproval(auth.policy, priced.rules, priced.costMicros);
  }

  async spend(keyId: string): Promise<KeySpend> {
    const now = this.#now();
    const [life, hour, day, key, policy] = await Promise.all([
      this.store.getCounter(lifetimeCounterId(keyId)),
      this.store.getCounter(hourWindow(keyId, now).id),
      this.store.getCounter(dayWindow(keyId, now).id),
      this.keys.get(keyId),
      this.keys.policy(keyId),
    ]);
    const caps = policy?.caps ?? {};
    const isRun = key !== undefined && key.parentId !== null;
    const lifetimeCap = [caps.perKey, isRun ? caps.perRun : undefined].filter((c) => c !== undefined);
    return {
      lifetimeUsd: microsToUsd(life),
      hourUsd: microsToUsd(hour),
      dayUsd: microsToUsd(day),
      caps: {
        lifetimeUsd: lifetimeCap.length > 0 ? Math.min(...(lifetimeCap as number[])) : null,
        hourUsd: caps.perHour ?? null,
        dayUsd: caps.perDay ?? null,
      },
      alerts: [...(policy?.alerts ?? [])],
    };
  }

  async pending(options: { limit?: number } = {}): Promise<PendingCall[]> {
    if (this.#unrecorded.length > 0) await this.#recordUnrecorded();
    return listPendingCalls(this.store, this.#now(), (name) => this.#reconcileAfterMs(name), options);
  }

  async reconcile(checkpointId: string, settlement: Reconciliation): Promise<CheckpointRecord> {
    const reconciled = await reconcileCall(this.store, this.#now(), checkpointId, settlement);
    if (this.#auditKey) await this.#anchor();
    return reconciled;
  }

  redact(text: string): string {
    return this.#credentials.redact(text);
  }

  async close(): Promise<void> {
    if (this.#unrecorded.length > 0) await this.#recordUnrecorded();
    await this.store.close();
  }

  /** The policy's `reconcileAfter` (narrowed keys keep their root's). */
  #reconcileAfterMs(policyName: string | undefined): number {
    const input = policyName === undefined ? undefined : this.#document.policies[policyName];
    const ms = input?.reconcileAfter === undefined ? undefined : parseDuration(input.reconcileAfter);
    return ms ?? DEFAULT_RECONCILE_AFTER_MS;
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

  /** Sign the audit chain's head with the audit key (callers check one is configured). */
  async #anchor(): Promise<void> {
    if (!this.#auditKey) return;
    try {
      const head = await this.store.auditHead();
      if (head) {
        await this.store.anchorAudit(auditAnchor(this.#auditKey.resolve('audit'), head.seq, head.hash));
      }
    } catch {
      // The next call anchors again; verify reports how far the anchor reaches.
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
}
