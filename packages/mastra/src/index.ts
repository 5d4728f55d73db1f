export { isToolRefusal, type ToolRefusal } from '@spendguard/core';
export type {
  ApprovalFunction,
  ApprovalResumeData,
  ApprovalSuspendPayload,
  ApprovedToolCall,
  VendorRequest,
} from './approval.ts';
export { RunStoppedError } from './errors.ts';
export {
  type CheckpointField,
  type CheckpointKeyContext,
  type CheckpointKeyFunction,
  type GuardToolOptions,
  type GuardToolsBaseOptions,
  type GuardToolsOptions,
  guardTool,
  guardTools,
  isGuardedTool,
  type MastraToolLike,
  type ToolInput,
} from './guard-tools.ts';
export { isRunStop, type SpendguardKillSwitch, spendguardKillSwitch } from './kill-switch.ts';
export type { CallSite, MastraCall } from './mastra-call.ts';
export { type SpendguardTripwire, TRIPWIRE_ID } from './tripwire.ts';
