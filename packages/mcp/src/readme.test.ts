/**
 * The README's configuration snippets are what users paste: each is read here from README.md and
 * checked against the code, so a snippet that would not work (a flag renamed, a policy that does
 * not parse, a tool the policy shown would hide) fails a test instead of a user.
 */
import { readFileSync } from 'node:fs';
import { PolicyError, parsePolicyText, resolvePolicy } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { parseGatewayArgs } from './cli-args.ts';
import { stripeTool } from './stripe-tools.ts';
import { toolMapOf } from './tool-map.ts';
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

/** The lines of `a` that `b` does not have, trimmed: what a user edits in their file. */
function linesOnlyIn(a: string, b: string): string[] {
  const others = new Set(b.split('\n').map((line) => line.trim()));
  return a
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !others.has(line));
}

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
    // As shown, too: each changed value is one line of the snippet, and nothing else differs.
    expect(linesOnlyIn(after, before).map((line) => line.split(':')[0])).toEqual(['"args"', '"env"']);
    expect(linesOnlyIn(before, after).map((line) => line.split(':')[0])).toEqual(['"args"', '"env"']);
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
    expect(linesOnlyIn(after, before).map((line) => line.split(':')[0])).toEqual(['"url"', '"headers"']);
    expect(linesOnlyIn(before, after).map((line) => line.split(':')[0])).toEqual(['"url"', '"headers"']);
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

describe("the policy's mcp: section for other servers", () => {
  const yaml = blocks('yaml').find((block) => /^mcp:/m.test(block)) as string;
  const document = parsePolicyText(yaml, 'README.md');
  const map = toolMapOf(document.mcp) ?? {};

  it('parses, maps each tool it names, and the policy shown lets the client see them', () => {
    expect(Object.keys(map).sort()).toEqual(['refund_order', 'search_docs', 'send_fax']);
    const policy = resolvePolicy('shop-agent', document.policies['shop-agent'] as never);
    for (const [tool, mapping] of Object.entries(map))
      expect([tool, isToolAllowed(mapping.shape, policy)]).toEqual([tool, true]);
    // The params renaming is what the policy's amount rule checks.
    expect(map.refund_order?.plan({ order: { payment: 'pi_1' }, cents: 2500 })).toMatchObject({
      operation: { params: { payment_intent: 'pi_1', amount: 2500 }, cost: { amount: 25, currency: 'usd' } },
    });
  });

  it('quotes the error a malformed section really gets', () => {
    const quoted = /With `currency: USD` above, it says:\n`(mcp\.tools\.[^`]+)`/.exec(README)?.[1] as string;
    expect(quoted).toContain('currency codes');
    try {
      parsePolicyText(yaml.replace('currency: usd', 'currency: USD'), 'README.md');
      expect.unreachable('an uppercase currency should be refused');
    } catch (error) {
      if (!PolicyError.isInstance(error)) throw error;
      const [issue] = error.issues;
      expect(`${issue?.path} (line ${issue?.line}): ${issue?.message}`).toBe(quoted);
    }
  });
});
