import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyError } from './errors.ts';
import { resolvePolicy } from './policy.ts';
import { loadPolicyFile, parsePolicyText } from './policy-loader.ts';

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
    twilio:
      allow:
        - POST /2010-04-01/Accounts/*/Messages.json: { To: { prefix: ["+1", "+44"] } }
      prices: { "+1": 0.0079, "+44": 0.0463 }
    caps: { perCall: 50, perRun: 200, perDay: 1000 }
    rate: { perMinute: 30 }
    approval: { above: 500 }
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
    if (error instanceof PolicyError) return error;
    throw error;
  }
  throw new Error('expected a PolicyError');
}

describe('policy files', () => {
  it('loads YAML into a resolved policy with defaults', () => {
    const doc = loadPolicyFile(file('good.yaml', GOOD));
    const policy = resolvePolicy('billing-agent', doc.policies['billing-agent'] as never);
    expect(policy.rules.map((r) => r.id)).toEqual([
      'stripe:POST /v1/payment_intents',
      'stripe:POST /v1/refunds',
      'stripe:GET /v1/charges/*',
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
      approval: { aboveUsd: 500 },
      alerts: [50, 80, 100],
      fx: { eur: 1.08, usd: 1 },
      prices: { twilio: { '+1': 0.0079, '+44': 0.0463 } },
    });
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
        expect.objectContaining({ path: 'policies.billing-agent.caps.perDay', line: 17 }),
        expect.objectContaining({
          path: 'policies.billing-agent.rate',
          message: expect.stringContaining('perMinut'),
        }),
      ]),
    );
    expect(error.message).toMatch(/policies\.billing-agent\.caps\.perDay \(line 17\): .*number/);
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
      'policies.p.stripe.allow[0].POST /v1/x.amount',
      /min is greater than max/,
    ],
    [
      'an unknown rule',
      'policies:\n  p:\n    stripe:\n      allow:\n        - POST /v1/x: { amount: { most: 5 } }\n',
      'policies.p.stripe.allow[0].POST /v1/x.amount',
      /unknown key most/,
    ],
    [
      'a vendor with no allow list',
      'policies:\n  p:\n    stripe: { prices: {} }\n',
      'policies.p.stripe.allow',
      /expected array/,
    ],
    ['a bad duration', 'policies:\n  p:\n    dedupWindow: soon\n', 'policies.p.dedupWindow', /duration/],
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
      /.+/,
    ],
  ])('rejects %s', (_name, text, path, message) => {
    const error = failure(() => parsePolicyText(text, 'inline.yaml'));
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(error.issues)).toBeDefined();
    expect(issue?.message).toMatch(message);
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
