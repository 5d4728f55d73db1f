export { isToolRefusal, type ToolRefusal } from '@spendguard/core';
export {
  type ApprovalFunction,
  type ApprovedToolCall,
  type SpendguardToolApproval,
  spendguardToolApproval,
  type VendorRequest,
} from './approval.ts';
export { RunStoppedError } from './errors.ts';
export {
  type CheckpointKeyContext,
  type CheckpointKeyFunction,
  type GuardToolOptions,
  type GuardToolsBaseOptions,
  type GuardToolsOptions,
  guardTool,
  guardTools,
} from './guard-tools.ts';
