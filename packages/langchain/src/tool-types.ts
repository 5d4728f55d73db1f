import type { InferInteropZodOutput, InteropZodType } from '@langchain/core/utils/types';
import type { ApprovalFunction } from './approval-request.ts';
import type { CheckpointField, CheckpointKeyFunction } from './options.ts';

/**
 * A LangChain tool as spendguard reads it: `tool()`, `DynamicStructuredTool`, a `StructuredTool`
 * subclass. Typed structurally, so a second installed copy of `@langchain/core` still fits.
 */
export interface GuardableTool {
  name: string;
  schema?: unknown;
  invoke(input: never, config?: never): Promise<unknown>;
}

/** The input a tool's function receives: its zod schema's output type, else a record. */
export type ToolInput<TOOL> = [TOOL] extends [never]
  ? Record<string, unknown>
  : TOOL extends { schema: infer SCHEMA }
    ? SCHEMA extends InteropZodType
      ? InferInteropZodOutput<SCHEMA>
      : Record<string, unknown>
    : Record<string, unknown>;

/** A tool, or just its name. */
export type ToolEntry = GuardableTool | string;

/** The names of a list of tools (or tool names). */
export type ToolNames<TOOLS extends readonly ToolEntry[]> = TOOLS[number] extends infer T
  ? T extends string
    ? T
    : T extends { name: infer NAME extends string }
      ? NAME
      : never
  : never;

/** The input of the tool with this name in a list. */
export type NamedInput<TOOLS extends readonly ToolEntry[], NAME> = ToolInput<
  Extract<TOOLS[number], { name: NAME }>
>;

/** Settings per tool, keyed by tool name. */
export interface PerToolOptions<TOOLS extends readonly ToolEntry[]> {
  /**
   * The billing-relevant input fields of each tool: only these make its checkpoint key, so a
   * reworded free-text field is not a new charge. LangGraph's run context (`invoke(input, {
   * context })`) is part of the key too; `context.<name>` entries keep only those of it.
   * Default: every input field and the whole context.
   */
  fields?: { [NAME in ToolNames<TOOLS>]?: readonly CheckpointField<NamedInput<TOOLS, NAME>>[] };
  /** A checkpoint key per tool (e.g. the order id) instead of the content hash. Default: the content hash. */
  idempotencyKey?: { [NAME in ToolNames<TOOLS>]?: CheckpointKeyFunction<NamedInput<TOOLS, NAME>> };
  /**
   * Per tool, the vendor call(s) its input will make: a call the policy's approval rule
   * (`approval.above`) matches then pauses the graph with `interrupt()` before the tool runs, and
   * runs once a human approves. Default: none — such a call runs the tool and its vendor call is
   * refused with core's approval id.
   */
  approval?: { [NAME in ToolNames<TOOLS>]?: ApprovalFunction<NamedInput<TOOLS, NAME>> };
}
