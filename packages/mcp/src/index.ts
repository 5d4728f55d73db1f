export { type ApprovalAsker, askToApprove, describeOperation } from './approval-form.ts';
export { type CallSession, type GovernedCall, governToolCall, type ToolCallInput } from './call-tool.ts';
export { type ParsedArgs, parseGatewayArgs, USAGE } from './cli-args.ts';
export { resolveCredential } from './credential-ref.ts';
export { GatewayOptionsError, UpstreamUnavailableError } from './errors.ts';
export { createMcpGateway, type GatewaySession, type McpGateway, type McpGatewayOptions } from './gateway.ts';
export { createMcpHttpHandler, type McpHttpHandler, type McpHttpOptions } from './http-handler.ts';
export { main } from './main.ts';
export { MCP_PROFILES, mcpStripeProfile } from './mcp-stripe-profile.ts';
export { type RunMcpGatewayOptions, type RunningGateway, runMcpGateway } from './run-gateway.ts';
export { carriesVaultToken, Scrubber } from './scrubber.ts';
export { type ServedHttp, type ServeHttpOptions, serveHttp } from './serve-http.ts';
export { STRIPE_OPERATION_IDS, type StripeEndpoint, stripeEndpoint } from './stripe-operation-ids.ts';
export { STRIPE_TOOL_NAMES, stripeTool } from './stripe-tools.ts';
export { parseToolMap, type ToolMap, toolMapOf } from './tool-map.ts';
export { type BuiltInMap, toolMappings } from './tool-mappings.ts';
export {
  fillPath,
  type PlannedOperation,
  type ToolMapping,
  type ToolPlan,
  type ToolShape,
  UNMAPPED_VENDOR,
  unmappedTool,
} from './tool-plan.ts';
export { asCallToolResult, REFUSAL_META_KEY, refusalResult, vendorObjectOf } from './tool-result.ts';
export { isToolAllowed } from './tool-visibility.ts';
export {
  connectUpstream,
  type HttpUpstream,
  type StdioUpstream,
  surelyNotRun,
  type Upstream,
  type UpstreamOptions,
  type UpstreamSpec,
} from './upstream.ts';
export { DEFAULT_LOOKUP_ORIGINS, type LookupOptions, vendorLookup } from './vendor-lookup.ts';
