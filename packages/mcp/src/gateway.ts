import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import {
  type DeriveOptions,
  type Guard,
  RunKeys,
  type ToolRefusal,
  type VendorProfile,
} from '@spendguard/core';
import type { ApprovalAsker } from './approval-form.ts';
import { type CallSession, governToolCall } from './call-tool.ts';
import { GatewayOptionsError } from './errors.ts';
import { MCP_PROFILES } from './mcp-stripe-profile.ts';
import { Scrubber } from './scrubber.ts';
import type { ToolMap } from './tool-map.ts';
import { type BuiltInMap, toolMappings } from './tool-mappings.ts';
import { refusalResult } from './tool-result.ts';
import { isToolAllowed } from './tool-visibility.ts';
import { connectUpstream, type Upstream, type UpstreamSpec } from './upstream.ts';
import { DEFAULT_LOOKUP_ORIGINS } from './vendor-lookup.ts';

export interface McpGatewayOptions {
  /**
   * The guard every tool call goes through (policy, caps, approvals, audit, the real vendor
   * credential for lookups). Create it with `profiles: MCP_PROFILES` so calls whose amount lives
   * in an object they name (a payment link, finalizing an invoice) are priced by reading it.
   */
  guard: Guard;
  /** The real MCP server: a child command over stdio, or a Streamable HTTP URL; its key by reference. */
  upstream: UpstreamSpec;
  /** The built-in map the upstream's tools are read with. Default: `'stripe'` (Stripe's MCP tools). */
  builtIn?: BuiltInMap;
  /**
   * Mappings for other tools: `toolMapOf(document.mcp)` of a loaded policy, or `parseToolMap({ tools })`.
   * They win over the built-in map. Default: none.
   */
  tools?: ToolMap;
  /** Vendor → API origin that pricing reads objects from. Default: `{ stripe: 'https://api.stripe.com' }`. */
  lookupOrigins?: Readonly<Record<string, string>>;
  /** How long one pricing read may take. Default: 10,000 ms. */
  lookupTimeoutMs?: number;
  /** Vendor profiles, to read what money a tool's result says moved. Default: `MCP_PROFILES`. */
  profiles?: readonly VendorProfile[];
  /**
   * The run every call of a session belongs to (its run key, run cap and audit rows). Default:
   * one run per MCP session, `mcp-<session id>`.
   */
  runId?: string;
  /** How each session's run key narrows the client's key (`caps`, `operations`, `ratePerMinute`, `ttl`). Default: not at all. */
  runKey?: Omit<DeriveOptions, 'runId'>;
  /**
   * Ask the user to approve a call the policy wants approved, through MCP elicitation, when the
   * client declares it. Off: such calls are refused naming the approval id, for an operator to
   * approve from the CLI (for clients that answer forms without a person). Default: true.
   */
  elicitation?: boolean;
  /** How long an approval form may wait for the user. Default: 600,000 ms (10 minutes). */
  approvalTimeoutMs?: number;
  /** How long the upstream may take to answer one tools/call before its outcome is unknown. Default: 120,000 ms. */
  upstreamTimeoutMs?: number;
  /** How long starting and initializing the upstream may take. Default: 30,000 ms. */
  connectTimeoutMs?: number;
  /** Receives one JSON line per tool call and the upstream's stderr lines, scrubbed. Default: none. */
  logger?: (line: string) => void;
}

/** One downstream MCP session being served. */
export interface GatewaySession {
  /** The MCP session id: the Streamable HTTP one, or `stdio-<uuid>`. */
  readonly id: string;
  /** Settles when the session has closed (the client went away, or `close()`). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export interface McpGateway {
  /**
   * Serve one downstream session on a connected-to-be transport (`StdioServerTransport`, a
   * Streamable HTTP session's transport), for the client holding `key` (a vault key). Each
   * session has its own upstream connection and run key.
   */
  connect(transport: Transport, session: { key: string; sessionId?: string }): Promise<GatewaySession>;
  /** Close every session. The guard stays the caller's. */
  close(): Promise<void>;
}

const MAX_CLIENT_NAME = 64;

/**
 * The MCP gateway: an MCP server downstream and an MCP client upstream. Each tool call is mapped
 * onto the vendor operation it performs and run through the guard, so the same `stripe:` rules,
 * caps, approvals, run keys, revocation and audit that govern the SDK and the proxy govern MCP.
 * Tools the key's policy does not allow are hidden from `tools/list` and refused on `tools/call`.
 */
export function createMcpGateway(options: McpGatewayOptions): McpGateway {
  const guard = options.guard;
  const mappingOf = toolMappings(options.builtIn ?? 'stripe', options.tools);
  const profiles = new Map((options.profiles ?? MCP_PROFILES).map((p) => [p.vendor, p]));
  const origins = new Map(Object.entries({ ...DEFAULT_LOOKUP_ORIGINS, ...options.lookupOrigins }));
  const lookups = { origins, timeoutMs: positive('lookupTimeoutMs', options.lookupTimeoutMs, 10_000) };
  const approvalTimeoutMs = positive('approvalTimeoutMs', options.approvalTimeoutMs, 600_000);
  const callTimeoutMs = positive('upstreamTimeoutMs', options.upstreamTimeoutMs, 120_000);
  const connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 30_000);
  const log = options.logger ?? (() => {});
  const sessions = new Set<GatewaySession>();

  async function connect(transport: Transport, opened: { key: string; sessionId?: string }) {
    const id = opened.sessionId ?? `stdio-${randomUUID()}`;
    const scrub = new Scrubber(guard, [opened.key]);
    const runKeys = new RunKeys({
      guard,
      key: opened.key,
      runId: options.runId ?? `mcp-${id}`,
      ...(options.runKey && { derive: options.runKey }),
    });
    const server = new Server(
      { name: 'spendguard-mcp', version: '0.1.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    let open = true;
    /** Set once the session's key can no longer act: every later call is refused at once. */
    let stopped: ToolRefusal | undefined;
    const upstreamLine = (line: string) => log(JSON.stringify({ session: id, upstreamStderr: line }));
    const upstream: Promise<Upstream> = connectUpstream(options.upstream, {
      scrub,
      log: upstreamLine,
      connectTimeoutMs,
      callTimeoutMs,
    });
    upstream.then(
      (u) => u.onToolListChanged(() => void server.sendToolListChanged().catch(() => {})),
      () => {}, // reported to each request that needs the upstream
    );
    const clientName = () => boundedName(server.getClientVersion()?.name);
    const callSession: CallSession = {
      guard,
      runKeys,
      upstream: () => upstream,
      scrub,
      sessionId: id,
      clientName,
      open: () => open,
      profiles,
      lookups,
    };

    server.setRequestHandler(ListToolsRequestSchema, async () => {
      const policy = stopped ? undefined : await livePolicy(guard, runKeys);
      if (!policy) return { tools: [] };
      const tools: Tool[] = await (await upstream).listTools();
      return { tools: tools.filter((tool) => isToolAllowed(mappingOf(tool.name).shape, policy)) };
    });

    server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
      const started = performance.now();
      const name = request.params.name;
      const line = (outcome: string, code: string) =>
        log(
          JSON.stringify({
            time: new Date().toISOString(),
            session: id,
            client: clientName(),
            requestId: String(extra.requestId).slice(0, 64),
            tool: scrub.text(name.slice(0, 128)),
            outcome,
            code,
            ms: Math.round((performance.now() - started) * 100) / 100,
          }),
        );
      if (stopped) {
        line('stop', stopped.code);
        return refusalResult(stopped);
      }
      const canElicit = options.elicitation !== false && !!server.getClientCapabilities()?.elicitation?.form;
      const ask: ApprovalAsker | undefined = canElicit
        ? (params) =>
            server.elicitInput(params, { relatedRequestId: extra.requestId, timeout: approvalTimeoutMs })
        : undefined;
      try {
        const { result, outcome } = await governToolCall(callSession, {
          name,
          args: request.params.arguments,
          requestId: String(extra.requestId),
          signal: extra.signal,
          mapping: mappingOf(name),
          ask,
        });
        if (outcome.kind === 'stop') {
          stopped = outcome.refusal;
          void server.sendToolListChanged().catch(() => {});
        }
        line(outcome.kind, outcome.kind === 'result' ? 'ok' : outcome.refusal.code);
        const clean = scrub.value(result);
        return typeof clean === 'string'
          ? { content: [{ type: 'text', text: clean }], isError: true }
          : clean;
      } catch (error) {
        // Not a decision about the call (a bug, a store failing outside the guard): say so, plainly.
        line('error', 'internal_error');
        const reason = scrub.text(error instanceof Error ? error.message : String(error));
        return {
          content: [
            { type: 'text', text: `spendguard could not handle this call, so it was not made: ${reason}` },
          ],
          isError: true,
        };
      }
    });

    let resolveClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      resolveClosed = resolve;
    });
    const session: GatewaySession = {
      id,
      closed,
      async close() {
        await server.close();
      },
    };
    server.onclose = () => {
      if (!open) return;
      open = false;
      sessions.delete(session);
      void upstream
        .then((u) => u.close())
        .catch(() => {})
        .finally(resolveClosed);
    };
    sessions.add(session);
    await server.connect(transport);
    return session;
  }

  return {
    connect,
    async close() {
      await Promise.all([...sessions].map((s) => s.close().then(() => s.closed)));
    },
  };
}

/**
 * The policy of the session's run key when it can still act (known, not expired, nothing in its
 * chain revoked); undefined otherwise: such a key is shown no tools, and its calls are refused by
 * the guard, which says why.
 */
async function livePolicy(guard: Guard, runKeys: RunKeys) {
  try {
    const auth = await guard.keys.authenticate(await runKeys.token(runKeys.defaultRunId));
    if ('code' in auth) return undefined;
    for (const id of auth.key.chain) {
      if ((await guard.keys.get(id))?.revokedAt !== null) return undefined;
    }
    return auth.policy;
  } catch {
    return undefined;
  }
}

/** A client's self-declared name as audit rows and forms show it: printable and bounded. */
function boundedName(name: string | undefined): string {
  const clean = (name ?? '')
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, MAX_CLIENT_NAME);
  return clean || 'mcp-client';
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new GatewayOptionsError(`${name} must be a positive integer`);
  return value;
}
