export {
  type AuditProblem,
  type AuditVerdict,
  auditAnchor,
  type VerifyAuditLogOptions,
  verifyAuditChain,
  verifyAuditLog,
  verifyAuditRows,
} from './audit-chain.ts';
export { type CanonicalJsonOptions, canonicalJson, contentHash, sha256Hex } from './canonical-json.ts';
export { createGovernedFetch, type GovernedFetchOptions } from './clients/governed-fetch.ts';
export {
  DECISION_CODES,
  DENY_CODES,
  type DecisionInfo,
  type DecisionKind,
  type DenyCode,
  type ExecuteDecision,
} from './decision.ts';
export { type Duration, parseDuration } from './duration.ts';
export {
  PolicyError,
  RequestInvalidError,
  RunStoppedError,
  SpendguardError,
  type SpendguardErrorCode,
  StoreUnavailableError,
  VendorCallError,
} from './errors.ts';
export { readBoundedBody } from './front-end/bounded-body.ts';
export { policyApprovalReason } from './front-end/policy-approval.ts';
export { RunKeys, type RunKeysOptions } from './front-end/run-keys.ts';
export {
  guardToolCall,
  type ToolCall,
  type ToolCallKeyContext,
  type ToolCallOutcome,
  type ToolCallSettings,
} from './front-end/tool-call.ts';
export { isToolRefusal, stopsTheRun, type ToolRefusal, toolRefusal } from './front-end/tool-refusal.ts';
export { handleVendorRequest, type VendorRequestOptions } from './front-end/vendor-request.ts';
export {
  type AuditVerifyOptions,
  createGuard,
  type ExecuteOptions,
  type ExecuteRequest,
  type Guard,
  type GuardOptions,
  type KeySpend,
  type PendingCall,
  type Reconciliation,
  type Settlement,
  type ToolCallRequest,
  type VendorCallContext,
} from './guard.ts';
export { type Attribution, type Money, type Operation, operationName, readParam } from './operation.ts';
export {
  type Caps,
  type CredentialSource,
  type McpSection,
  type McpTool,
  type McpToolCost,
  mcpSectionSchema,
  type Narrowing,
  type OperationRule,
  type ParamRule,
  type PolicyDocument,
  type PolicyInput,
  type PolicySettings,
  policyDocumentSchema,
  type ResolvedPolicy,
  resolvePolicy,
  type VendorSection,
} from './policy.ts';
export {
  checkOperation,
  isCanonicalPath,
  microsToUsd,
  type PolicyVerdict,
  usdToMicros,
} from './policy-check.ts';
export { loadPolicyFile, parsePolicyDocument, parsePolicyText } from './policy-loader.ts';
export { MIN_SECRET_LENGTH, REDACTED, Redactor } from './redactor.ts';
export { currentRun, type RunBinding, runWithBinding } from './run-binding.ts';
export { scrubbedError } from './scrubbed-error.ts';
// Store internals (beginTx, plan and record types for store authors) are in `@spendguard/core/store-kit`.
export type {
  AlertEvent,
  AppendedRow,
  ApprovalQuery,
  ApprovalRecord,
  AuditAnchor,
  AuditEntry,
  AuditHead,
  AuditQuery,
  AuditRow,
  CheckpointRecord,
  CheckpointState,
  KeyQuery,
  KeyRecord,
  KeyState,
  PruneOptions,
  PruneResult,
  Store,
} from './store.ts';
export { MemoryStore } from './stores/memory-store.ts';
export { DEFAULT_SQLITE_FILE, SqliteStore, type SqliteStoreOptions } from './stores/sqlite-store.ts';
export { loadTelemetry, SPANS, withRemoteParent } from './telemetry.ts';
export { decodeJsonParams, INPUT_LIMITS, toPlainData } from './untrusted-input.ts';
export {
  type AuthenticatedKey,
  type DeriveOptions,
  type IssuedKey,
  type IssueRootOptions,
  TOKEN_PREFIX,
  VaultKeys,
} from './vault-keys.ts';
export { classifyVendorError, type VendorOutcome } from './vendor-errors.ts';
export { minorToMajor } from './vendors/currency.ts';
export { DEFAULT_PROFILES } from './vendors/default-profiles.ts';
export { decodeFormParams, type FormDecodeOptions } from './vendors/form-params.ts';
export { resendProfile } from './vendors/resend-profile.ts';
export { countSmsSegments, type SmsSegments } from './vendors/sms-segments.ts';
export { stripeProfile } from './vendors/stripe-profile.ts';
export { twilioProfile } from './vendors/twilio-profile.ts';
export {
  type CostEstimate,
  type EstimateContext,
  FREE,
  recipientFrom,
  unlisted,
  type VendorOperation,
  type VendorProfile,
  type VendorSettlement,
} from './vendors/vendor-profile.ts';
