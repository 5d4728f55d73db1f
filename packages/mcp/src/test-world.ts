/**
 * The world the gateway's end-to-end tests run in (not exported from the package): the fake
 * Stripe on loopback, a policy file and a SQLite store in a temp dir, a guard in this process on
 * the same store (to issue and revoke keys, approve calls and read audit rows, as the CLI would),
 * and MCP clients — the SDK's own `Client` — connected either to the gateway started as a child
 * process (`node src/bin.ts … -- node fixtures/stripe-mcp-server.ts`) or, for the "without"
 * rows, straight to the test Stripe MCP server with the Stripe key in its environment.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type ElicitRequest,
  ElicitRequestSchema,
  type ElicitResult,
} from '@modelcontextprotocol/sdk/types.js';
import { createGuard, type Guard, type McpSection, type PolicyDocument, SqliteStore } from '@spendguard/core';
import { createFakeStripe, type FakeServer, type FakeStripe, type StripeObject } from '@spendguard/testkit';

/**
 * The real Stripe secret: only the policy's credential reference (a file) leads to it. The MCP
 * client's configuration — the environment it starts the gateway with — holds the vault key only.
 */
export const STRIPE_SECRET = 'sk_test_mcp_REAL_stripe_secret_0123456789';

export const BIN = fileURLToPath(new URL('./bin.ts', import.meta.url));
export const FIXTURE = fileURLToPath(new URL('./fixtures/stripe-mcp-server.ts', import.meta.url));
export const SOURCE = '--conditions=@spendguard/source';

/**
 * - `refunds`: refunds up to $50 each, $50 per run (one MCP session is one run);
 * - `approvals`: refunds up to $200, a person approves any call above $100;
 * - `read-only`: only reads a payment intent (no refund tool is listed).
 * - `shop`: for the shop's own MCP server, mapped by a tool map: refunds up to $20, gift cards
 *   (vendor `giftco`) up to $40 each, $50 per run.
 */
export function policiesFor(secretFile: string): PolicyDocument {
  return {
    policies: {
      refunds: {
        stripe: {
          allow: [
            { 'POST /v1/refunds': { amount: { max: 5000 } } },
            'POST /v1/customers',
            'GET /v1/payment_intents/*',
            'POST /v1/invoices/*/finalize',
            'POST /v1/payment_links',
          ],
        },
        caps: { perRun: 50 },
      },
      approvals: {
        stripe: { allow: [{ 'POST /v1/refunds': { amount: { max: 20000 } } }] },
        approval: { above: 100 },
      },
      'read-only': { stripe: { allow: ['GET /v1/payment_intents/*'] } },
      shop: {
        stripe: { allow: [{ 'POST /v1/refunds': { amount: { max: 2000 } } }] },
        giftco: { allow: [{ 'POST /gift_cards/*': { dollars: { max: 40 } } }] },
        caps: { perRun: 50 },
      },
    },
    credentials: { stripe: { file: secretFile } },
  };
}

export interface ClientOptions {
  /** The MCP server's command instead of the test Stripe MCP server's (`fixtureCommand()`). */
  upstream?: string[];
  /** The client's name in `initialize` (audit rows carry it). Default: `test-client`. */
  name?: string;
  /** Declares elicitation and answers each form with this. Default: no elicitation. */
  elicit?: (request: ElicitRequest) => Promise<ElicitResult>;
}

export interface Connected {
  client: Client;
  /** The MCP session id, over Streamable HTTP. */
  sessionId?: string | undefined;
  /** Everything the server process wrote to stderr so far. */
  stderr(): string;
  close(): Promise<void>;
}

export interface World {
  fake: FakeStripe;
  stripe: FakeServer;
  dir: string;
  config: string;
  store: string;
  /** A guard on the gateway's store: what an operator's CLI does. */
  guard: Guard;
  issueKey(policy: string): Promise<{ id: string; token: string }>;
  /** A succeeded PaymentIntent of `amount` cents on the fake Stripe. */
  paymentIntent(amount: number): Promise<string>;
  /** A one-time Price of `unitAmount` cents (USD) on the fake Stripe; its id. */
  price(unitAmount: number): Promise<string>;
  /** The refunds the fake Stripe made on a PaymentIntent. */
  refundsOf(paymentIntent: string): StripeObject[];
  /** A client of the gateway (a child process), over stdio, holding `key`. */
  gateway(
    key: string,
    options?: ClientOptions & { args?: string[]; env?: Record<string, string>; fixtureArgs?: string[] },
  ): Promise<Connected>;
  /** The gateway as a child process serving Streamable HTTP on loopback. */
  httpGateway(args?: string[]): Promise<HttpGateway>;
  /** A client of an HTTP gateway holding `key` as its Bearer token. */
  httpClient(url: string, key: string, options?: ClientOptions): Promise<Connected>;
  /** A client straight to the test Stripe MCP server (or `upstream`), the Stripe key in its environment: no gateway. */
  direct(options?: ClientOptions): Promise<Connected>;
  /** The arguments that start the test Stripe MCP server, for after `--`. */
  fixtureCommand(extra?: string[]): string[];
  close(): Promise<void>;
}

export interface HttpGateway {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  stderr(): string;
  /** Stops it (SIGTERM, then SIGKILL after a bound); its exit code. */
  stop(): Promise<number | null>;
}

const START_TIMEOUT_MS = 20_000;

/** The client side of a connection, its elicitation handler registered when given. */
function newClient(options: ClientOptions): Client {
  const client = new Client(
    { name: options.name ?? 'test-client', version: '1.0.0' },
    { capabilities: options.elicit ? { elicitation: {} } : {} },
  );
  if (options.elicit) {
    const answer = options.elicit;
    client.setRequestHandler(ElicitRequestSchema, (request) => answer(request));
  }
  return client;
}

export interface WorldOptions {
  /** The policy file's `mcp:` section (the tool map for servers no built-in map knows). */
  mcp?: McpSection;
}

export async function startWorld(label: string, options: WorldOptions = {}): Promise<World> {
  const fake = createFakeStripe({ secretKey: STRIPE_SECRET });
  const stripe = await fake.listen();
  const dir = mkdtempSync(join(tmpdir(), `spendguard-mcp-${label}-`));
  const secretFile = join(dir, 'stripe.key');
  writeFileSync(secretFile, STRIPE_SECRET, { mode: 0o600 });
  const policies: PolicyDocument = {
    ...policiesFor(secretFile),
    ...(options.mcp !== undefined && { mcp: options.mcp }),
  };
  const config = join(dir, 'spendguard.json');
  writeFileSync(config, JSON.stringify(policies));
  const storeFile = join(dir, 'state.db');
  const guard = createGuard({ policies, store: new SqliteStore({ file: storeFile }) });
  const connected: Connected[] = [];
  const children: ChildProcess[] = [];
  const gatewayArgs = (extra: string[]) => [
    SOURCE,
    BIN,
    '--config',
    config,
    '--store',
    `sqlite:${storeFile}`,
    '--stripe-api',
    stripe.url,
    ...extra,
  ];
  const fixtureCommand = (extra: string[] = []) => [
    process.execPath,
    FIXTURE,
    '--api-base',
    stripe.url,
    ...extra,
  ];

  async function connect(
    command: string[],
    env: Record<string, string>,
    options: ClientOptions,
  ): Promise<Connected> {
    const transport = new StdioClientTransport({
      command: command[0] as string,
      args: command.slice(1),
      env,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const client = newClient(options);
    await client.connect(transport, { timeout: START_TIMEOUT_MS });
    const handle: Connected = { client, stderr: () => stderr, close: () => client.close() };
    connected.push(handle);
    return handle;
  }

  return {
    fake,
    stripe,
    dir,
    config,
    store: `sqlite:${storeFile}`,
    guard,
    fixtureCommand,
    issueKey: (policy) => guard.keys.issueRoot({ policy, name: `${label}-${policy}` }),
    async paymentIntent(amount) {
      const response = await fetch(`${stripe.url}/v1/payment_intents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${STRIPE_SECRET}` },
        body: new URLSearchParams({
          amount: String(amount),
          currency: 'usd',
          confirm: 'true',
          payment_method: 'pm_card_visa',
        }),
      });
      const intent = (await response.json()) as { id: string; status: string };
      if (intent.status !== 'succeeded')
        throw new Error(`the payment intent did not succeed: ${intent.status}`);
      return intent.id;
    },
    async price(unitAmount) {
      const response = await fetch(`${stripe.url}/v1/prices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${STRIPE_SECRET}` },
        body: new URLSearchParams({
          unit_amount: String(unitAmount),
          currency: 'usd',
          'product_data[name]': 'Pro plan',
        }),
      });
      if (!response.ok) throw new Error(`the price was not created: ${await response.text()}`);
      return ((await response.json()) as { id: string }).id;
    },
    refundsOf: (paymentIntent) =>
      fake.ledger.list('refund').filter((r) => r.payment_intent === paymentIntent),
    gateway(key, options = {}) {
      const upstream = options.upstream ?? fixtureCommand(options.fixtureArgs);
      const args = [...gatewayArgs(options.args ?? []), '--', ...upstream];
      return connect([process.execPath, ...args], { SPENDGUARD_KEY: key, ...options.env }, options);
    },
    async httpGateway(args = []) {
      const child = spawn(
        process.execPath,
        [...gatewayArgs(['--http', '0', ...args]), '--', ...fixtureCommand()],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { PATH: process.env.PATH ?? '' },
        },
      );
      children.push(child);
      let stderr = '';
      const listening = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no gateway in time: ${stderr}`)), START_TIMEOUT_MS);
        child.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString('utf8');
          const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
          if (url) {
            clearTimeout(timer);
            resolve(url);
          }
        });
        child.once('exit', (code) => reject(new Error(`the gateway exited (${code}): ${stderr}`)));
      });
      const url = await listening;
      return {
        url,
        stderr: () => stderr,
        async stop() {
          if (child.exitCode !== null) return child.exitCode;
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          const [code] = (await exited) as [number | null];
          clearTimeout(timer);
          return code;
        },
      };
    },
    async httpClient(url, key, options = {}) {
      const transport = new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${key}` } },
      });
      const client = newClient(options);
      await client.connect(transport, { timeout: START_TIMEOUT_MS });
      const handle: Connected = {
        client,
        sessionId: transport.sessionId,
        stderr: () => '',
        close: () => client.close(),
      };
      connected.push(handle);
      return handle;
    },
    direct(options = {}) {
      return connect(options.upstream ?? fixtureCommand(), { STRIPE_SECRET_KEY: STRIPE_SECRET }, options);
    },
    async close() {
      await Promise.allSettled(connected.map((c) => c.close()));
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await guard.close();
      await stripe.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The text of a tool result's first block. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.find((block) => block.type === 'text')?.text ?? '';
}
