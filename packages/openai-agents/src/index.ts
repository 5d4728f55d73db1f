export { isToolRefusal, type ToolRefusal } from '@spendguard/core';
export type {
  ApprovalFunction,
  ApprovedToolCall,
  VendorRequest,
} from './approval.ts';
export { RunStoppedError } from './errors.ts';
export {
  type CheckpointField,
  type CheckpointKeyContext,
  type CheckpointKeyFunction,
  type FunctionToolLike,
  type GuardToolOptions,
  type GuardToolsBaseOptions,
  type GuardToolsOptions,
  guardTool,
  guardTools,
  isGuardedTool,
  type ToolInput,
} from './guard-tools.ts';
export { runStoppedErrorOf } from './run-stopped.ts';
