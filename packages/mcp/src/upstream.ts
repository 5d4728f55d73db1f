import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  type CallToolResult,
  CallToolResultSchema,
  ErrorCode,
  type Tool,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { CredentialSource } from '@spendguard/core';
import { resolveCredential } from './credential-ref.ts';
import { UpstreamUnavailableError } from './errors.ts';
import type { Scrubber } from './scrubber.ts';

/**
 * The real MCP server behind the gateway (Stripe's, or another vendor's), reached as an MCP client:
 * - a child process over stdio (`npx -y @stripe/mcp`), its key put in its environment from a
 *   reference (`secretEnv: { STRIPE_SECRET_KEY: { file: … } }`), so the key never sits in the MCP
 *   client's configuration; the child gets only that and the SDK's safe default environment;
 * - or a Streamable HTTP URL (`https://mcp.stripe.com`), its key sent as a Bearer token read from
 *   a reference.
 */
export type UpstreamSpec = StdioUpstream | HttpUpstream;

export interface StdioUpstream {
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** More environment for the child (not secrets). */
  env?: Readonly<Record<string, string>>;
  /** Environment variables of the child set from secret references, read when it starts. */
  secretEnv?: Readonly<Record<string, CredentialSource>>;
}

export interface HttpUpstream {
  url: string;
  /** Sent as `Authorization: Bearer <secret>`, read from this reference. */
  credential?: CredentialSource;
}

/** What the gateway uses of the upstream. */
export interface Upstream {
  /** Every tool the upstream lists (all pages, bounded). */
  listTools(): Promise<Tool[]>;
  /**
   * One tools/call. Rejects when no answer came: `McpError` for a request the server refused
   * (unknown tool, bad arguments), or any error of the transport or a timeout.
   */
  callTool(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
  /** Called when the upstream says its tool list changed. */
  onToolListChanged(listener: () => void): void;
  close(): Promise<void>;
}

export interface UpstreamOptions {
  /** Remembers the upstream's key, so nothing the gateway shows carries it. */
  scrub: Scrubber;
  /** Where the child's stderr lines go, scrubbed. */
  log: (line: string) => void;
  /** How long starting and initializing may take. */
  connectTimeoutMs: number;
  /** How long one tools/call may take before its outcome is unknown. */
  callTimeoutMs: number;
}

const MAX_PAGES = 50;
const MAX_TOOLS = 2_000;
/** The most one message from the child may buffer (a tool result is far smaller). */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const MAX_STDERR_LINE = 2_000;

export async function connectUpstream(spec: UpstreamSpec, options: UpstreamOptions): Promise<Upstream> {
  const client = new Client({ name: 'spendguard-mcp', version: '0.1.0' }, { capabilities: {} });
  const transport = 'url' in spec ? await httpTransport(spec, options) : stdioTransport(spec, options);
  try {
    await client.connect(transport, { timeout: options.connectTimeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    const reason = options.scrub.text(error instanceof Error ? error.message : String(error));
    const what =
      'url' in spec ? 'the upstream MCP server' : `the upstream command ${JSON.stringify(spec.command)}`;
    throw new UpstreamUnavailableError(`${what} could not be started or initialized: ${reason}`);
  }
  const listeners: (() => void)[] = [];
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    for (const listener of listeners) listener();
  });
  return {
    async listTools() {
      const tools: Tool[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES && tools.length < MAX_TOOLS; page++) {
        const answer = await client.listTools(cursor === undefined ? {} : { cursor });
        tools.push(...answer.tools.slice(0, MAX_TOOLS - tools.length));
        cursor = answer.nextCursor;
        if (cursor === undefined) break;
      }
      return tools;
    },
    callTool(name, args) {
      // The raw request: the SDK's callTool would also check the answer against the tool's output
      // schema and throw after the tool ran, which would read as a call that never happened.
      return client.request(
        { method: 'tools/call', params: { name, arguments: args } },
        CallToolResultSchema,
        {
          timeout: options.callTimeoutMs,
          maxTotalTimeout: options.callTimeoutMs,
        },
      );
    },
    onToolListChanged(listener) {
      listeners.push(listener);
    },
    close: () => client.close(),
  };
}

function stdioTransport(spec: StdioUpstream, options: UpstreamOptions): StdioClientTransport {
  const env: Record<string, string> = { ...spec.env };
  for (const [name, source] of Object.entries(spec.secretEnv ?? {})) {
    const secret = resolveCredential(source, `the upstream's ${name}`);
    options.scrub.add(secret);
    env[name] = secret;
  }
  const transport = new StdioClientTransport({
    command: spec.command,
    args: [...(spec.args ?? [])],
    env,
    stderr: 'pipe',
    maxBufferSize: MAX_MESSAGE_BYTES,
    ...(spec.cwd !== undefined && { cwd: spec.cwd }),
  });
  const stderr = transport.stderr;
  if (stderr) {
    // With `stderr: 'pipe'` the SDK hands out a PassThrough at once, typed only as a Stream.
    createInterface({ input: stderr as unknown as Readable }).on('line', (line) => {
      options.log(options.scrub.text(line.slice(0, MAX_STDERR_LINE)));
    });
  }
  return transport;
}

async function httpTransport(spec: HttpUpstream, options: UpstreamOptions): Promise<Transport> {
  // Loaded only for a URL upstream: a stdio gateway starts on every MCP client launch.
  const { StreamableHTTPClientTransport } = await import(
    '@modelcontextprotocol/sdk/client/streamableHttp.js'
  );
  const headers: Record<string, string> = {};
  if (spec.credential) {
    const secret = resolveCredential(spec.credential, "the upstream's credential");
    options.scrub.add(secret);
    headers.authorization = `Bearer ${secret}`;
  }
  return new StreamableHTTPClientTransport(new URL(spec.url), {
    requestInit: { headers, redirect: 'error' },
  });
}

/**
 * Whether a failed tools/call surely did nothing: the server refused the request itself (no such
 * tool, arguments its schema rejects). Anything else — a timeout, a closed connection, an
 * internal error — may have come after the tool acted.
 */
export function surelyNotRun(error: unknown): boolean {
  // Read by shape, not by class: another installed copy of the SDK throws its own McpError.
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === ErrorCode.InvalidParams || code === ErrorCode.MethodNotFound;
}
