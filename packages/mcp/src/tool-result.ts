import { type CallToolResult, CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ToolRefusal } from '@spendguard/core';
import { approveFromOperator } from './mcp-sentences.ts';

/** Where a refusal's structured payload sits in a result's `_meta`, for programs and UIs. */
export const REFUSAL_META_KEY = 'io.spendguard/refusal';

/** Largest upstream answer read for a settlement (a Stripe object is a few KiB). */
const MAX_SETTLEMENT_TEXT = 256 * 1024;

/**
 * A refusal as MCP delivers one: an `isError` result the model reads — what was refused, why,
 * and that calling again will not help (or who can approve it) — with core's refusal payload in
 * `_meta`.
 */
export function refusalResult(refusal: ToolRefusal): CallToolResult {
  const sentences = [`${refusal.reason.replace(/\.$/, '')} (${refusal.code}).`, refusal.advice];
  if (refusal.approvalId !== undefined && refusal.code === 'approval_required') {
    sentences.push(approveFromOperator(refusal.approvalId));
  }
  return {
    content: [{ type: 'text', text: sentences.join(' ') }],
    isError: true,
    _meta: { [REFUSAL_META_KEY]: { ...refusal } },
  };
}

/**
 * A stored result as a tool result. The gateway stores the upstream's own result, so this is the
 * identity for its replays; a result another front end stored for the same vendor call (the
 * proxy's answer to the same refund) comes back as its JSON text.
 */
export function asCallToolResult(value: unknown): CallToolResult {
  const parsed = CallToolResultSchema.safeParse(value);
  if (parsed.success && Array.isArray((value as { content?: unknown }).content)) return parsed.data;
  return { content: [{ type: 'text', text: JSON.stringify(value) ?? 'null' }] };
}

/**
 * The vendor object a tool's result carries, for the profile to read what money moved: its
 * structured content, or the JSON object of its first text block. Undefined when there is none.
 */
export function vendorObjectOf(result: CallToolResult): Record<string, unknown> | undefined {
  const structured = result.structuredContent;
  if (structured !== null && typeof structured === 'object' && !Array.isArray(structured)) return structured;
  for (const block of result.content ?? []) {
    if (block.type !== 'text') continue;
    const text = block.text.trim();
    if (!text.startsWith('{') || text.length > MAX_SETTLEMENT_TEXT) return undefined;
    try {
      const object = JSON.parse(text) as unknown;
      return object !== null && typeof object === 'object' && !Array.isArray(object)
        ? (object as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
