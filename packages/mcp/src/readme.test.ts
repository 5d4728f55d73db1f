/**
 * The README's configuration snippets are what users paste: each is read here from README.md and
 * checked against the code, so a snippet that would not work (a flag renamed, a policy that does
 * not parse, a tool the policy shown would hide) fails a test instead of a user.
 */
import { readFileSync } from 'node:fs';
import { parsePolicyText, resolvePolicy } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { parseGatewayArgs } from './cli-args.ts';
import { stripeTool } from './stripe-tools.ts';
import { parseToolMap } from './tool-map.ts';
import { isToolAllowed } from './tool-visibility.ts';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
};

/** The fenced blocks of one language, in order. */
function blocks(language: string): string[] {
  return [...README.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
    (match) => match[1] as string,
  );
}

/** The `before` and `after` entries of a section: its first two JSON blocks. */
function beforeAfter(heading: string): [string, string] {
  const section = README.slice(README.indexOf(`## ${heading}`));
  const [before, after] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return [before as string, after as string];
}

interface ServerEntry {
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
}
const entryOf = (json: string) =>
  (JSON.parse(json) as { mcpServers: { stripe: ServerEntry } }).mcpServers.stripe;

/** The keys of the server entry whose values differ: each is one line of the user's file. */
function changedKeys(before: ServerEntry, after: ServerEntry): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter(
    (key) =>
      JSON.stringify(before[key as keyof ServerEntry]) !== JSON.stringify(after[key as keyof ServerEntry]),
  );
}

describe('the Claude Desktop entry', () => {
  const [before, after] = beforeAfter('Claude Desktop');

  it('changes two lines: the args and the env', () => {
    expect(changedKeys(entryOf(before), entryOf(after))).toEqual(['args', 'env']);
    // Stripe's own command is kept whole, after --.
    expect(entryOf(after).args?.slice(-3)).toEqual([
      entryOf(before).command,
      ...(entryOf(before).args ?? []),
    ]);
    expect(entryOf(before).env).toHaveProperty('STRIPE_SECRET_KEY');
    // After: the client's configuration holds a vault key only, never the Stripe key.
    expect(Object.keys(entryOf(after).env ?? {})).toEqual(['SPENDGUARD_KEY']);
  });

  it('starts this package (its one bin) with arguments the gateway reads, Stripe’s command untouched after --', () => {
    const { command, args = [] } = entryOf(after);
    expect(command).toBe('npx');
    expect(args.slice(0, 2)).toEqual(['-y', PACKAGE.name]);
    // `npx <package>` runs the package's bin when it has exactly one.
    expect(Object.keys(PACKAGE.bin)).toHaveLength(1);
    const parsed = parseGatewayArgs(args.slice(2));
    if (parsed.help) throw new Error('the entry asks for --help');
    expect(parsed.options.upstream).toEqual({ command: 'npx', args: ['-y', '@stripe/mcp'] });
    expect(parsed.options.config).toMatch(/spendguard\.yaml$/);
    // SPENDGUARD_KEY is where a stdio gateway reads its vault key unless --key-env says otherwise.
    expect(parsed.options.keyEnv).toBeUndefined();
  });
});

describe('the Cursor entry over HTTP', () => {
  const [before, after] = beforeAfter('Cursor');

  it('changes two lines, and points at the gateway the command shown starts', () => {
    expect(changedKeys(entryOf(before), entryOf(after))).toEqual(['url', 'headers']);
    const commandLine = /`spendguard-mcp ([^`]+)` running/.exec(README)?.[1] as string;
    const parsed = parseGatewayArgs(commandLine.split(' '));
    if (parsed.help) throw new Error('the command asks for --help');
    expect(parsed.options.upstream).toEqual({ url: entryOf(before).url });
    expect(entryOf(after).url).toBe(`http://127.0.0.1:${parsed.options.http?.port}/mcp`);
    expect(entryOf(after).headers?.Authorization).toMatch(/^Bearer sk_sg_/);
  });
});

describe("the policy for Stripe's tools", () => {
  const yaml = blocks('yaml').find((block) => block.includes('create_refund')) as string;
  const document = parsePolicyText(yaml, 'README.md');
  const policy = resolvePolicy('billing-agent', document.policies['billing-agent'] as never);
  const shown = (tool: string) =>
    isToolAllowed((stripeTool(tool) as NonNullable<ReturnType<typeof stripeTool>>).shape, policy);

  it('parses, and shows each tool its comments name; the rest stay hidden', () => {
    const named = [...yaml.matchAll(/# ([a-z_]+)/g)]
      .map((m) => m[1] as string)
      .filter((name) => stripeTool(name));
    expect(named).toEqual(
      expect.arrayContaining([
        'create_refund',
        'create_payment_link',
        'finalize_invoice',
        'retrieve_balance',
      ]),
    );
    for (const tool of named) expect([tool, shown(tool)]).toEqual([tool, true]);
    for (const tool of ['cancel_subscription', 'create_coupon', 'update_dispute'])
      expect([tool, shown(tool)]).toEqual([tool, false]);
    expect(document.credentials?.stripe).toEqual({ file: expect.stringMatching(/stripe\.key$/) });
  });
});

it('the tool map example parses', () => {
  const json = blocks('json').find((block) => block.includes('"tools"')) as string;
  const map = parseToolMap(JSON.parse(json));
  expect(Object.keys(map).sort()).toEqual(['refund_order', 'search_docs', 'send_fax']);
});
