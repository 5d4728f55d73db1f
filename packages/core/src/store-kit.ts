/**
 * `@spendguard/core/store-kit`: what a store author needs and an application does not. Core's
 * rules as synchronous functions over a transaction (`beginTx`, `finishTx`, …), the base class
 * memory and SQLite share, the audit chain's construction, the plan and record types, and the
 * meaning of queries and retention, written once for every backend to follow.
 */
export { AUDIT_HASHED_FIELDS, chainAudit, GENESIS_HASH } from './audit-chain.ts';
export type {
  AlertEvent,
  AppendedRow,
  ApprovalQuery,
  ApprovalRecord,
  ApprovalVerdictInput,
  AuditAnchor,
  AuditEntry,
  AuditHead,
  AuditQuery,
  AuditRow,
  BeginPlan,
  BeginResult,
  CapWindow,
  CheckpointRecord,
  CheckpointState,
  Decision,
  FinishInput,
  FinishResult,
  KeyQuery,
  KeyRecord,
  KeyState,
  PruneOptions,
  PruneResult,
  Store,
  StoreDenyCode,
  TokenRecord,
} from './store.ts';
export {
  auditPage,
  checkKeyQuery,
  decisionsOf,
  inTrace,
  keyState,
  matchesAuditQuery,
  matchesKeyQuery,
} from './stores/queries.ts';
export {
  checkpointPrunableAt,
  isPrunableApproval,
  isPrunableCheckpoint,
  isPrunableToken,
  raiseCheckpointFloor,
} from './stores/retention.ts';
export {
  appendAuditTx,
  beginTx,
  decideApprovalTx,
  decidedApproval,
  finishTx,
  STALE_ATTEMPT,
  type StateTx,
  startedCheckpoint,
  storedApproval,
} from './stores/state-tx.ts';
export { PENDING_LIMIT, TransactionalStore } from './stores/transactional-store.ts';
