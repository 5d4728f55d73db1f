import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PolicyError } from './errors.ts';
import { type PolicyDocument, resolvePolicy } from './policy.ts';
import { loadPolicyFile, MAX_POLICY_BYTES, parsePolicyDocument, parsePolicyText } from './policy-loader.ts';

const dir = mkdtempSync(join(tmpdir(), 'spendguard-policy-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const GOOD = `
policies:
  billing-agent:
    stripe:
      allow:
        - POST /v1/payment_intents:
            amount: { max: 5000 }
            currency: { in: [usd, eur] }
            customer: { required: true }
            metadata.order_id: { prefix: ord_ }
        - POST /v1/refunds: { amount: { max: 2000 } }
        - GET /v1/charges/*
        - POST /v1/checkout/sessions
      costs: { "POST /v1/checkout/sessions": 0 }
    twilio:
      allow:
        - POST /2010-04-01/Accounts/*/Messages.json: { To: { prefix: ["+1", "+44"] } }
      prices: { "+1": 0.0079, "+44": 0.0463 }
    caps: { perCall: 50, perRun: 200, perDay: 1000 }
    rate: { perMinute: 30 }
    approval: { above: 500, operations: ["stripe:POST /v1/refunds"] }
    alerts: [80, 50, 100]
    fx: { eur: 1.08 }
    keyTtl: 1h
credentials:
  stripe: { env: STRIPE_SECRET_KEY }
`;

function failure(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (error) {
    if (PolicyError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a PolicyError');
}

function issueAt(error: PolicyError, path: string) {
  const issue = error.issues.find((i) => i.path === path);
  expect(issue, JSON.stringify(error.issues)).toBeDefined();
  return issue as PolicyError['issues'][number];
}

function resolveAll(doc: PolicyDocument) {
  return Object.entries(doc.policies).map(([name, input]) => resolvePolicy(name, input));
}

describe('policy files', () => {
  it('loads YAML into a resolved policy with defaults', () => {
    const doc = loadPolicyFile(file('good.yaml', GOOD));
    const policy = resolvePolicy('billing-agent', doc.policies['billing-agent'] as never);
    expect(policy.rules.map((r) => r.id)).toEqual([
      'stripe:POST /v1/payment_intents',
      'stripe:POST /v1/refunds',
      'stripe:GET /v1/charges/*',
      'stripe:POST /v1/checkout/sessions',
      'twilio:POST /2010-04-01/Accounts/*/Messages.json',
    ]);
    expect(policy.rules[2]?.pattern.test('/v1/charges/ch_123')).toBe(true);
    expect(policy.rules[2]?.pattern.test('/v1/charges/ch_123/refunds')).toBe(false);
    expect(policy.rules[0]?.params.map((p) => p.path)).toEqual([
      'amount',
      'currency',
      'customer',
      'metadata.order_id',
    ]);
    expect(policy).toMatchObject({
      caps: { perCall: 50, perRun: 200, perDay: 1000 },
      ratePerMinute: 30,
      dedupWindowMs: 86_400_000,
      keyTtlMs: 3_600_000,
      approval: { aboveUsd: 500, operations: ['stripe:POST /v1/refunds'] },
      alerts: [50, 80, 100],
      fx: { eur: 1.08, usd: 1 },
      prices: { twilio: { '+1': 0.0079, '+44': 0.0463 } },
    });
    expect({ ...policy.costs }).toEqual({ 'stripe:POST /v1/checkout/sessions': 0 });
    expect(doc.credentials).toEqual({ stripe: { env: 'STRIPE_SECRET_KEY' } });
  });

  it('loads the same document from JSON', () => {
    const json = JSON.stringify({ policies: { p: { stripe: { allow: ['POST /v1/refunds'] } } } });
    expect(loadPolicyFile(file('p.json', json)).policies.p).toBeDefined();
  });

  it('names the file, the path in the document, the line and what is wrong', () => {
    const path = file(
      'bad.yaml',
      GOOD.replace('perDay: 1000', 'perDay: "lots"').replace('perMinute: 30', 'perMinut: 30'),
    );
    const error = failure(() => loadPolicyFile(path));
    expect(error.code).toBe('policy_invalid');
    expect(error.file).toBe(path);
    expect(error.message).toContain(path);
    expect(error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'policies.billing-agent.caps.perDay', line: 19 }),
        expect.objectContaining({
          path: 'policies.billing-agent.rate',
          message: 'unknown key perMinut; did you mean perMinute?',
          line: 20,
        }),
      ]),
    );
    expect(error.message).toMatch(/policies\.billing-agent\.caps\.perDay \(line 19\): .*number/);
  });

  it.each([
    [
      'a bad operation',
      'policies:\n  p:\n    stripe:\n      allow: [ "CHARGE /v1/x" ]\n',
      'policies.p.stripe.allow[0]',
      /METHOD/,
    ],
    [
      'min above max',
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/x: { amount: { min: 5, max: 1 } }\n',
      'policies.p.stripe.allow[0]["POST /v1/x"].amount',
      /min is greater than max/,
    ],
    [
      'an unknown rule',
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/x: { amount: { most: 5 } }\n',
      'policies.p.stripe.allow[0]["POST /v1/x"].amount',
      /unknown key most/,
    ],
    [
      'a vendor with no allow list',
      'policies:\n  p:\n    stripe: { prices: {} }\n',
      'policies.p.stripe.allow',
      /expected array/,
    ],
    ['a bad duration', 'policies:\n  p:\n    dedupWindow: soon\n', 'policies.p.dedupWindow', /duration/],
    ['a duration of the wrong type', 'policies:\n  p:\n    keyTtl: [1h]\n', 'policies.p.keyTtl', /duration/],
    [
      'an upper-case currency',
      'policies:\n  p:\n    fx: { EUR: 1.1 }\n',
      'policies.p.fx.EUR',
      /currency codes are 3 lowercase letters/,
    ],
    ['an alert above 100 %', 'policies:\n  p:\n    alerts: [150]\n', 'policies.p.alerts[0]', /100/],
    [
      'a credential with no source',
      'policies: {}\ncredentials:\n  stripe: { vault: x }\n',
      'credentials.stripe',
      /expected \{ env: NAME \} or \{ file: path \}/,
    ],
  ])('rejects %s', (_name, text, path, message) => {
    const error = failure(() => parsePolicyText(text, 'inline.yaml'));
    expect(issueAt(error, path).message).toMatch(message);
  });

  it('reports YAML syntax errors with their line', () => {
    const error = failure(() => parsePolicyText('policies:\n  p:\n    caps: { perDay: 10\n', 'broken.yaml'));
    expect(error.message).toContain('broken.yaml');
    expect(error.issues[0]?.line).toBeGreaterThan(0);
  });

  it('says when the file does not exist', () => {
    const error = failure(() => loadPolicyFile(join(dir, 'missing.yaml')));
    expect(error.message).toMatch(/missing\.yaml[\s\S]*file not found/);
  });
});

describe('unknown keys', () => {
  it.each([
    [
      'a misspelled param rule',
      GOOD.replace('amount: { max: 5000 }', 'amount: { mx: 5000 }'),
      'policies.billing-agent.stripe.allow[0]["POST /v1/payment_intents"].amount',
      'unknown key mx; did you mean max?',
    ],
    [
      'a param rule with no near name, listing the valid ones',
      GOOD.replace('amount: { max: 5000 }', 'amount: { amout_max: 5000 }'),
      'policies.billing-agent.stripe.allow[0]["POST /v1/payment_intents"].amount',
      'unknown key amout_max (expected one of max, min, in, prefix, required)',
    ],
    [
      'a misspelled cap',
      GOOD.replace('perCall: 50', 'perCal: 50'),
      'policies.billing-agent.caps',
      'unknown key perCal; did you mean perCall?',
    ],
    [
      'a misspelled vendor section key',
      GOOD.replace('costs:', 'cost:'),
      'policies.billing-agent.stripe',
      'unknown key cost; did you mean costs?',
    ],
    [
      'a misspelled approval key',
      GOOD.replace('above: 500', 'abov: 500'),
      'policies.billing-agent.approval',
      'unknown key abov; did you mean above?',
    ],
    [
      'a misspelled top-level key',
      GOOD.replace('credentials:', 'credential:'),
      '',
      /did you mean credentials\?/,
    ],
  ])('names the path and the nearest valid key: %s', (_name, text, path, message) => {
    expect(
      issueAt(
        failure(() => parsePolicyText(text)),
        path,
      ).message,
    ).toMatch(message);
  });

  it.each([
    ['caps:', 'cap:', 'caps', 19],
    ['alerts:', 'alert:', 'alerts', 22],
    ['keyTtl:', 'keyTTL:', 'keyTtl', 24],
    ['fx:', 'fxx:', 'fx', 23],
  ])('reports a misspelled setting (%s → %s) as one, not as a vendor section', (from, to, meant, line) => {
    const error = failure(() => parsePolicyText(GOOD.replace(from, to)));
    expect(error.issues).toEqual([
      {
        path: 'policies.billing-agent',
        message: `unknown key ${to.slice(0, -1)}; did you mean ${meant}?`,
        line,
      },
    ]);
  });

  it('still reports the rest of a policy that has a misspelled setting', () => {
    const error = failure(() =>
      parsePolicyText(GOOD.replace('caps:', 'cap:').replace('perMinute: 30', 'perMinute: -1')),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      'policies.billing-agent',
      'policies.billing-agent.rate.perMinute',
    ]);
  });

  it('takes a key near a setting name as a vendor when it has an allow list', () => {
    const doc = parsePolicyText('policies:\n  p:\n    rates: { allow: [GET /v1/rates] }\n');
    expect(resolvePolicy('p', doc.policies.p as never).rules.map((r) => r.id)).toEqual([
      'rates:GET /v1/rates',
    ]);
  });

  it('reports the problems inside an allow entry at their paths, not as a mismatch with the string form', () => {
    const text =
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/x: { amount: { mx: 5, min: "1" } }\n';
    const error = failure(() => parsePolicyText(text));
    expect(error.issues).toEqual([
      expect.objectContaining({
        path: 'policies.p.stripe.allow[0]["POST /v1/x"].amount.min',
        message: expect.stringMatching(/expected number/),
      }),
      expect.objectContaining({
        path: 'policies.p.stripe.allow[0]["POST /v1/x"].amount',
        message: 'unknown key mx; did you mean max?',
      }),
    ]);
  });

  it('says what an allow entry may be when it is neither form', () => {
    const error = failure(() => parsePolicyText('policies:\n  p:\n    stripe:\n      allow: [5]\n'));
    expect(issueAt(error, 'policies.p.stripe.allow[0]').message).toBe(
      'expected "METHOD /path", or a map of one "METHOD /path" to its param rules',
    );
  });
});

describe('approval operations', () => {
  it('rejects an operation no allow rule permits, naming the nearest and the allowed ones', () => {
    const error = failure(() =>
      parsePolicyText(
        GOOD.replace('"stripe:POST /v1/refunds"', '"stripe:GET /v1/charges/*", "stripe:POST /v1/refund"'),
      ),
    );
    expect(error.issues).toEqual([
      {
        path: 'policies.billing-agent.approval.operations[1]',
        message:
          'stripe:POST /v1/refund is not an operation this policy allows; did you mean stripe:POST /v1/refunds? ' +
          '(allowed: stripe:POST /v1/payment_intents, stripe:POST /v1/refunds, stripe:GET /v1/charges/*, ' +
          'stripe:POST /v1/checkout/sessions, twilio:POST /2010-04-01/Accounts/*/Messages.json)',
        line: 21,
      },
    ]);
  });

  it('wants the vendor in the id', () => {
    const error = failure(() =>
      parsePolicyText(GOOD.replace('"stripe:POST /v1/refunds"', '"POST /v1/refunds"')),
    );
    expect(issueAt(error, 'policies.billing-agent.approval.operations[0]').message).toMatch(
      /^POST \/v1\/refunds is not .*; did you mean stripe:POST \/v1\/refunds\?/,
    );
  });

  it('says when the policy allows nothing', () => {
    const error = failure(() =>
      parsePolicyText('policies:\n  p:\n    approval: { operations: ["stripe:GET /x"] }\n'),
    );
    expect(issueAt(error, 'policies.p.approval.operations[0]').message).toMatch(/\(allowed: none\)$/);
  });
});

describe('costs', () => {
  const withCosts = (costs: string) => GOOD.replace('{ "POST /v1/checkout/sessions": 0 }', costs);

  it.each([
    [
      'an operation the section does not allow',
      '{ "POST /v1/checkout/session": 0 }',
      'policies.billing-agent.stripe.costs["POST /v1/checkout/session"]',
      /^POST \/v1\/checkout\/session is not in this vendor's allow list; did you mean POST \/v1\/checkout\/sessions\? \(allowed: POST \/v1\/payment_intents, /,
    ],
    [
      'an id matching an allowed pattern, not naming it',
      '{ "GET /v1/charges/ch_1": 0.01 }',
      'policies.billing-agent.stripe.costs["GET /v1/charges/ch_1"]',
      /is not in this vendor's allow list/,
    ],
    [
      'a key that is no operation',
      '{ checkout: 0 }',
      'policies.billing-agent.stripe.costs.checkout',
      /METHOD/,
    ],
    [
      'a negative cost',
      '{ "POST /v1/checkout/sessions": -1 }',
      'policies.billing-agent.stripe.costs["POST /v1/checkout/sessions"]',
      />=0/,
    ],
    [
      'an infinite cost',
      '{ "POST /v1/checkout/sessions": .inf }',
      'policies.billing-agent.stripe.costs["POST /v1/checkout/sessions"]',
      /number/,
    ],
  ])('rejects %s', (_name, costs, path, message) => {
    expect(
      issueAt(
        failure(() => parsePolicyText(withCosts(costs))),
        path,
      ).message,
    ).toMatch(message);
  });
});

describe("the mcp section (the MCP gateway's map of other servers' tools)", () => {
  const policy = (mcp: string) =>
    `policies:\n  shop:\n    stripe: { allow: ["POST /v1/refunds"] }\nmcp:\n${mcp}`;

  it('loads beside the policies, its tables without a prototype', () => {
    const document = parsePolicyText(
      policy(
        [
          '  tools:',
          '    search_docs: free',
          '    refund_order:',
          '      operation: stripe:POST /v1/refunds',
          '      params: { payment_intent: order.payment, amount: cents }',
          '      cost: { amountArg: cents, currency: usd }',
          '    send_fax: { operation: "faxco:POST /faxes/{line}", cost: { usd: 0.05 } }',
        ].join('\n'),
      ),
    );
    expect(document.mcp?.tools).toEqual({
      search_docs: 'free',
      refund_order: {
        operation: 'stripe:POST /v1/refunds',
        params: { payment_intent: 'order.payment', amount: 'cents' },
        cost: { amountArg: 'cents', currency: 'usd' },
      },
      send_fax: { operation: 'faxco:POST /faxes/{line}', cost: { usd: 0.05 } },
    });
    expect(Object.getPrototypeOf(document.mcp?.tools)).toBeNull();
    const refund = document.mcp?.tools.refund_order;
    expect(typeof refund === 'object' && Object.getPrototypeOf(refund.params)).toBeNull();
  });

  it.each([
    ['  tool: {}', 'mcp', 'unknown key tool; did you mean tools?'],
    [
      '  tools:\n    x: { oparation: "a:POST /x" }',
      'mcp.tools.x',
      'unknown key oparation; did you mean operation?',
    ],
    [
      '  tools:\n    x: { operation: "POST /v1/refunds" }',
      'mcp.tools.x.operation',
      'expected "vendor:METHOD /path"',
    ],
    ['  tools:\n    x: maybe', 'mcp.tools.x', 'expected "free" or { operation, params?, cost? }'],
    ['  tools:\n    x: { operation: "a:POST /x", cost: 5 }', 'mcp.tools.x.cost', 'expected { usd } or'],
    [
      '  tools:\n    x: { operation: "a:POST /x", cost: { amountArg: n } }',
      'mcp.tools.x.cost',
      'exactly one of currency and currencyArg',
    ],
    [
      '  tools:\n    x: { operation: "a:POST /x", cost: { amountArg: n, currency: usd, unit: cents } }',
      'mcp.tools.x.cost.unit',
      '',
    ],
    [
      '  tools:\n    x: { operation: "a:POST /x", params: { amount: 5 } }',
      'mcp.tools.x.params.amount',
      'expected string',
    ],
    ['  tools:\n    constructor: free', 'mcp.tools.constructor', 'constructor cannot be a key'],
  ])('refuses %j at %s, with its line', (mcp, path, message) => {
    try {
      parsePolicyText(policy(mcp), 'spendguard.yaml');
      expect.unreachable('the section should be refused');
    } catch (error) {
      expect(PolicyError.isInstance(error)).toBe(true);
      if (!PolicyError.isInstance(error)) return;
      const issue = error.issues.find((i) => i.path === path);
      expect(issue?.message).toContain(message);
      expect(issue?.line).toBeGreaterThanOrEqual(4);
    }
  });
});

describe('bounds', () => {
  it('refuses YAML aliases that expand past the bound ("billion laughs")', () => {
    const lines = ['a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (const [name, previous] of ['ba', 'cb', 'dc', 'ed', 'fe', 'gf', 'hg', 'ih']) {
      lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const error = failure(() => parsePolicyText(lines.join('\n'), 'laughs.yaml'));
    expect(error.issues).toEqual([
      {
        path: '',
        message: expect.stringMatching(/alias count.*\(the limit is 100 alias expansions\)/),
      },
    ]);
  });

  it('accepts a few aliases, such as a shared param rule', () => {
    const text =
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/a: { amount: &small { max: 100 } }\n' +
      '        - POST /v1/b: { amount: *small }\n';
    const policy = resolvePolicy('p', parsePolicyText(text).policies.p as never);
    expect(policy.rules[1]?.params).toEqual([{ path: 'amount', rule: { max: 100 } }]);
  });

  it.each([
    ['an alias with no anchor', 'policies: *nowhere\n', /Unresolved alias/],
    ['an alias inside its own anchor', 'policies:\n  p: &p\n    stripe: { allow: *p }\n', /expected array/],
  ])('turns %s into a PolicyError', (_name, text, message) => {
    expect(failure(() => parsePolicyText(text)).message).toMatch(message);
  });

  it('refuses text past 1 MiB, counting bytes, and names the size', () => {
    const text = `# ${'é'.repeat(MAX_POLICY_BYTES / 2)}`;
    expect(text.length).toBeLessThan(MAX_POLICY_BYTES);
    const error = failure(() => parsePolicyText(text, 'big.yaml'));
    expect(error.issues).toEqual([
      { path: '', message: 'the policy is 1048578 bytes; the limit is 1048576 bytes (1 MiB)' },
    ]);
  });

  it('accepts a policy of exactly 1 MiB', () => {
    const text = `${GOOD}#`.padEnd(MAX_POLICY_BYTES, '#');
    expect(parsePolicyText(text).policies['billing-agent']).toBeDefined();
  });

  it('refuses a file past 1 MiB', () => {
    const path = file('big.yaml', `${GOOD}#`.padEnd(MAX_POLICY_BYTES + 1, '#'));
    expect(failure(() => loadPolicyFile(path)).issues).toEqual([
      { path: '', message: 'the policy is 1048577 bytes; the limit is 1048576 bytes (1 MiB)' },
    ]);
  });

  it('stops reading a file with no size at the bound', () => {
    expect(failure(() => loadPolicyFile('/dev/zero')).issues).toEqual([
      { path: '', message: 'the policy is more than 1048576 bytes; the limit is 1048576 bytes (1 MiB)' },
    ]);
  });

  it('turns an unreadable file into a PolicyError', () => {
    expect(failure(() => loadPolicyFile(dir)).message).toMatch(/EISDIR/);
  });
});

describe('tables safe to index with untrusted keys', () => {
  it('resolves fx, prices and costs with no prototype', () => {
    const doc = parsePolicyText(GOOD);
    const [policy] = resolveAll(doc);
    const untrusted = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
    for (const key of untrusted) {
      expect(policy?.fx[key]).toBeUndefined();
      expect(policy?.prices[key]).toBeUndefined();
      expect(policy?.prices.twilio?.[key]).toBeUndefined();
      expect(policy?.costs[key]).toBeUndefined();
      expect(doc.policies[key]).toBeUndefined();
      expect(doc.credentials?.[key]).toBeUndefined();
    }
    expect(policy?.fx.eur).toBe(1.08);
  });

  it.each([
    ['a currency', 'policies:\n  p:\n    fx: { constructor: 1 }\n', 'policies.p.fx.constructor'],
    [
      'a price prefix',
      'policies:\n  p:\n    twilio: { allow: [], prices: { __proto__: 1 } }\n',
      'policies.p.twilio.prices.__proto__',
    ],
    ['a policy name', 'policies:\n  prototype: { stripe: { allow: [] } }\n', 'policies.prototype'],
    ['a vendor name', 'policies:\n  p:\n    __proto__: { allow: [] }\n', 'policies.p.__proto__'],
    [
      'a param name',
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/x: { constructor: { max: 1 } }\n',
      'policies.p.stripe.allow[0]["POST /v1/x"].constructor',
    ],
    ['a credential', 'policies: {}\ncredentials:\n  __proto__: { env: X }\n', 'credentials.__proto__'],
  ])('rejects a built-in property name as %s', (_name, text, path) => {
    expect(
      issueAt(
        failure(() => parsePolicyText(text)),
        path,
      ).message,
    ).toMatch(/cannot be a key: it names a built-in property of JavaScript objects/);
  });

  it('rejects them in a document given as a value, too', () => {
    const value = JSON.parse('{"policies":{"p":{"stripe":{"allow":[],"prices":{"__proto__":{"x":1}}}}}}');
    expect(
      issueAt(
        failure(() => parsePolicyDocument(value)),
        'policies.p.stripe.prices.__proto__',
      ),
    ).toBeDefined();
  });
});

/** Every plain object in a value, by its path. */
function objectPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => objectPaths(item, [...path, i]));
  if (typeof value !== 'object' || value === null) return [];
  return [path, ...Object.entries(value).flatMap(([key, child]) => objectPaths(child, [...path, key]))];
}

function at(value: unknown, path: readonly (string | number)[]): Record<string, unknown> {
  return path.reduce<unknown>((v, key) => (v as Record<string, unknown>)[key], value) as Record<
    string,
    unknown
  >;
}

/** Sets a key as an own property, even `__proto__`. */
function put(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function expectOnlyPolicyErrors(fn: () => PolicyDocument): PolicyError | undefined {
  try {
    resolveAll(fn());
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).issues.length).toBeGreaterThan(0);
    return error as PolicyError;
  }
}

describe('any input gives a document or a PolicyError', () => {
  const base = parse(GOOD) as Record<string, unknown>;
  const containers = objectPaths(base);

  const insertion = fc.record({
    kind: fc.constant('insert' as const),
    container: fc.nat({ max: containers.length - 1 }),
    key: fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'cap', 'allow', 'mx')),
    value: fc.jsonValue({ maxDepth: 2 }),
  });
  const renaming = fc.record({
    kind: fc.constant('rename' as const),
    container: fc.nat({ max: containers.length - 1 }),
    keyIndex: fc.nat(),
    edit: fc.constantFrom('insert', 'delete', 'replace'),
    position: fc.nat(),
    char: fc.string({ minLength: 1, maxLength: 1 }),
  });

  it('for a valid policy with one unknown key inserted or one key misspelled, naming a path within the change', () => {
    fc.assert(
      fc.property(fc.oneof(insertion, renaming), fc.boolean(), (mutation, asJson) => {
        const value = structuredClone(base);
        const path = containers[mutation.container] as (string | number)[];
        const container = at(value, path);
        const entries = Object.entries(container);
        if (mutation.kind === 'insert') {
          fc.pre(!Object.hasOwn(container, mutation.key));
          put(container, mutation.key, mutation.value);
        } else {
          fc.pre(entries.length > 0);
          const [old] = entries[mutation.keyIndex % entries.length] as [string, unknown];
          const i = mutation.position % (old.length + 1);
          const cut = mutation.edit === 'insert' ? 0 : 1;
          const renamed =
            old.slice(0, i) + (mutation.edit === 'delete' ? '' : mutation.char) + old.slice(i + cut);
          for (const [key] of entries) delete container[key];
          for (const [key, child] of entries) put(container, key === old ? renamed : key, child);
        }
        const text = asJson ? JSON.stringify(value) : stringify(value);
        const error = expectOnlyPolicyErrors(() => parsePolicyText(text));
        if (!error) return;
        // Problems lie in the changed object, or elsewhere in the same policy (an approval rule or
        // a cost naming a renamed operation).
        const scope = (path[0] === 'policies' ? path.slice(0, 2) : path).join('.');
        for (const issue of error.issues) {
          expect(error.message).toContain(`${issue.path || '(root)'}`);
          const within = issue.path.startsWith(scope) && /^$|^[.[]/.test(issue.path.slice(scope.length));
          expect(within || scope === '', `${issue.path} is outside ${scope}`).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (text) => {
        expectOnlyPolicyErrors(() => parsePolicyText(text));
      }),
      { numRuns: 300 },
    );
  });

  it('for YAML-ish text', () => {
    const token = fc.constantFrom(
      ...[
        'policies:',
        'p:',
        'stripe:',
        'allow:',
        'caps:',
        'approval:',
        'costs:',
        'prices:',
        'fx:',
        'credentials:',
      ],
      ...['- ', ': ', '\n', '  ', '{', '}', '[', ']', ',', '? ', '---', '...', '#', '"', "'", '|', '>'],
      ...[
        '&a ',
        '*a',
        '&b ',
        '*b',
        '<<: ',
        '!!binary ',
        '!!set ',
        '!!map ',
        '!!str ',
        '!tag ',
        '%YAML 1.1\n',
      ],
      ...[
        'POST /v1/x',
        'GET /v1/*',
        'max',
        'min',
        'in',
        'prefix',
        'required',
        'env',
        '__proto__',
        'constructor',
      ],
      ...['0', '-1', '1e400', '.inf', '.nan', 'null', '~', 'true', '1h', 'eur', '"stripe:POST /v1/x"'],
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (tokens) => {
        expectOnlyPolicyErrors(() => parsePolicyText(tokens.join('')));
      }),
      { numRuns: 500 },
    );
  });

  it('for a valid policy text with characters inserted or deleted', () => {
    const edit = fc.record({
      position: fc.nat({ max: GOOD.length }),
      remove: fc.nat({ max: 3 }),
      insert: fc.string({ maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const text = edits.reduce(
          (t, e) => t.slice(0, e.position) + e.insert + t.slice(e.position + e.remove),
          GOOD,
        );
        expectOnlyPolicyErrors(() => parsePolicyText(text));
      }),
      { numRuns: 300 },
    );
  });
});
