import { existsSync, writeFileSync } from 'node:fs';
import { UsageError } from '../cli-error.ts';

const VENDORS = ['stripe', 'twilio', 'resend'] as const;
type Vendor = (typeof VENDORS)[number];

const SECTIONS: Record<Vendor, string> = {
  stripe: `    stripe:
      allow:
        # METHOD /path, with rules for the params that matter. Amounts are minor units (cents).
        - POST /v1/payment_intents:
            amount: { max: 5000 } # $50.00
            currency: { in: [usd] }
            customer: { required: true }
        - POST /v1/refunds: { amount: { max: 2000 } }
        - GET /v1/charges/*
`,
  twilio: `    twilio:
      allow:
        - POST /2010-04-01/Accounts/*/Messages.json: { To: { prefix: ["+1"] } }
      prices: { "+1": 0.0079 } # USD per SMS segment, by number prefix
`,
  resend: `    resend:
      allow:
        - POST /emails
      prices: { email: 0.001 } # USD per recipient
`,
};

const CREDENTIALS: Record<Vendor, string> = {
  stripe: '  stripe: { env: STRIPE_SECRET_KEY }',
  twilio: '  twilio: { env: TWILIO_AUTH_TOKEN }',
  resend: '  resend: { env: RESEND_API_KEY }',
};

/** The starter policy: one agent role, the chosen vendors, caps, and credentials by reference. */
export function starterPolicy(vendors: readonly Vendor[]): string {
  return `# spendguard policy. Reference: https://github.com/spendguard/spendguard/blob/main/packages/core/README.md#policy
# Check it with: spendguard policy check spendguard.yaml
policies:
  # One policy per agent role. Issue its root key once: spendguard keys issue --policy billing-agent
  billing-agent:
${vendors.map((v) => SECTIONS[v]).join('')}    caps: { perCall: 50, perRun: 200, perDay: 1000 } # USD, checked before the money moves
    rate: { perMinute: 30 } # calls per minute per key
    approval: { above: 500 } # USD: a person approves first (spendguard approvals list)
    alerts: [50, 80, 100] # % of each capped window
    dedupWindow: 24h # a repeated call within this window is replayed, not re-sent

# Vendor secrets by reference (an environment variable or { file: path }), never inline.
credentials:
${vendors.map((v) => CREDENTIALS[v]).join('\n')}
`;
}

export default async function init(options: { vendors: string; file: string; force?: boolean }) {
  const asked = options.vendors
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter(Boolean);
  const unknown = asked.filter((v) => !(VENDORS as readonly string[]).includes(v));
  if (unknown.length > 0 || asked.length === 0) {
    throw new UsageError(
      `--vendors: ${unknown.join(', ') || '(none)'} not known; choose from ${VENDORS.join(', ')}`,
    );
  }
  if (existsSync(options.file) && !options.force) {
    throw new UsageError(`${options.file} exists; pass --force to overwrite it`);
  }
  const vendors = VENDORS.filter((v) => asked.includes(v));
  writeFileSync(options.file, starterPolicy(vendors));
  process.stdout.write(
    `wrote ${options.file} (${vendors.join(', ')}). Next:\n` +
      `  spendguard policy check ${options.file}\n` +
      '  spendguard keys issue --policy billing-agent\n',
  );
}
