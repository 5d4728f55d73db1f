import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('..', import.meta.url));

it('runs offline as `pnpm start` runs it: one charge each, the $900 and the triage agent refused, the $450 approved, the revoked run stopped', async () => {
  const env = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'STRIPE_SECRET_KEY', 'NODE_OPTIONS', 'NODE_ENV']) delete env[name];
  const { stdout } = await run(process.execPath, ['--conditions=@spendguard/source', 'src/main.ts'], {
    cwd: dir,
    env,
  });
  expect(stdout).toContain('offline: scripted model, fake Stripe');
  // The double-fired charge and the retried run replay; the $900 is refused before Stripe.
  expect(stdout).toMatch(/refused \(param_not_allowed\): .*above the maximum 50000/);
  expect(stdout).toContain('the app retries it with the same session');
  expect(stdout).toContain('Stripe saw 2 charges, $139.99 in all.');
  // The triage agent's own key may not charge; billing, after the handoff, charges once.
  expect(stdout).toMatch(/triage-agent: charge\(.*\) → refused \(operation_not_allowed\)/);
  expect(stdout).toContain('Stripe saw 3 charges, $164.99 in all.');
  // $450 is above the policy's approval line: the run stops, nothing runs until the answer.
  expect(stdout).toMatch(/amountCents: 45000.* → approval requested/);
  expect(stdout).toMatch(/stores the run's state \(\d+ bytes\)\. Stripe saw 3 charges/);
  expect(stdout).toMatch(/charged ch_\w+ for \$450\.00/);
  expect(stdout).toMatch(/POST \/v1\/charges +\$450\.00 .*\(approved by ops@example\.com \(console\)\)/);
  expect(stdout).toMatch(/the run stopped: ToolCallError: .*revoked.*\(model calls made: 1\)/);
  expect(stdout).toContain('audit chain verified: {"ok":true');
});
