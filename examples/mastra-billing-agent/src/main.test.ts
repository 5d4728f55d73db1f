import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const dir = fileURLToPath(new URL('..', import.meta.url));

it('runs offline as `pnpm start` runs it: one charge each, the $900 refused, the $450 approved, the revoked run stopped, the retried step charged once', async () => {
  const env = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'STRIPE_SECRET_KEY', 'AI_MODEL', 'NODE_OPTIONS']) delete env[name];
  const { stdout } = await run(process.execPath, ['--conditions=@spendguard/source', 'src/main.ts'], {
    cwd: dir,
    env,
  });
  expect(stdout).toContain('offline: mock model, fake Stripe');
  expect(stdout).toMatch(/refused \(param_not_allowed\): .*above the maximum 50000/);
  expect(stdout).toContain('generate() failed (503 Service Unavailable');
  expect(stdout).toContain('Stripe saw 2 charges, $139.99 in all.');
  // $450 is above the policy's approval line: Mastra asks, nothing runs until the answer.
  expect(stdout).toMatch(/amountCents: 45000.* → approval requested \(run \S+, call \S+\)/);
  expect(stdout).toContain('Stripe saw 2 charges so far');
  expect(stdout).toMatch(/charged ch_\w+ for \$450\.00/);
  expect(stdout).toMatch(/POST \/v1\/charges +\$450\.00 .*\(approved by ops@example\.com \(console\)\)/);
  expect(stdout).toMatch(/refused \(key_revoked\)/);
  expect(stdout).toMatch(
    /the run stopped: spendguard stopped the run: .*revoked.*\(finishReason other, model calls made: 9 of 11\)/,
  );
  expect(stdout).toMatch(/workflow success: the step ran 2 times, Stripe charged 1 time \(ch_\w+\)/);
  expect(stdout).toContain('audit chain verified: {"ok":true');
});
