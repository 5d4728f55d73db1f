export { isToolRefusal, type ToolRefusal } from '@spendguard/core';
export type {
  ActionRequest,
  ApprovalDecision,
  ApprovalFunction,
  ApprovalInterrupt,
  ReviewConfig,
  VendorRequest,
} from './approval-request.ts';
export type { LangGraphConfig } from './call-binding.ts';
export { RunStoppedError } from './errors.ts';
export {
  type GuardToolOptions,
  type GuardToolsOptions,
  guardTool,
  guardTools,
  isGuardedTool,
} from './guard-tools.ts';
export { type SpendguardMiddlewareOptions, spendguardMiddleware } from './middleware.ts';
export type {
  ApprovedToolCall,
  CheckpointField,
  CheckpointKeyContext,
  CheckpointKeyFunction,
  SpendguardOptions,
} from './options.ts';
export { type RefusalRecord, refusalOf } from './refusal-message.ts';
export { runStopOf } from './run-stop.ts';
export type { GuardableTool, PerToolOptions, ToolEntry, ToolInput } from './tool-types.ts';
