import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createGuard, SqliteStore, VendorCallError } from '@spendguard/core';
import { chargeAudit } from '@spendguard/core/testing';
import { USAGE } from '@spendguard/mcp';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import type { Command } from 'commander';
import pg from 'pg';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAuditLog } from './audit-log-fixture.ts';
import { runCli, spawnCli, waitForStderr } from './cli-runner.ts';
import { buildProgram } from './program.ts';

const POSTGRES_URL = process.env.SPENDGUARD_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/test';
const STRIPE_SECRET = 'sk_test_cli_REAL_stripe_secret_0123456789';
const ADMIN_TOKEN = 'cli-test-admin-token-0123456789abcdef';
const POLICY = `policies:
  billing-agent:
    stripe:
      allow:
        - POST /v1/charges: { amount: { max: 50000 }, currency: { in: [usd] } }
    caps: { perRun: 1000, perDay: 5000 }
    approval: { above: 300 }
    alerts: [80]
credentials:
  stripe: { env: SG_CLI_TEST_STRIPE }
`;

let dir: string;
let fakeStripe: ReturnType<typeof createFakeStripe>;
let stripeServer: FakeServer;
const env = () => ({ SG_CLI_TEST_STRIPE: STRIPE_SECRET, SPENDGUARD_ADMIN_TOKEN: ADMIN_TOKEN });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'spendguard-cli-'));
  writeFileSync(join(dir, 'spendguard.yaml'), POLICY);
  fakeStripe = createFakeStripe({ secretKey: STRIPE_SECRET });
  stripeServer = await fakeStripe.listen();
});
afterAll(async () => {
  await stripeServer.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], extraEnv: Record<string, string | undefined> = {}) =>
  runCli(args, { cwd: dir, env: { ...env(), ...extraEnv } });

describe('usage', () => {
  it('--help exits 0 listing every command; a bad flag or command exits 2 naming the nearest valid one', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const command of [
      'init',
      'serve',
      'keys',
      'spend',
      'audit',
      'approvals',
      'pending',
      'migrate',
      'policy',
      'mcp',
    ]) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    expect(help.stdout).toContain('Exit codes: 0 ok, 1 denied or a failed check, 2 usage error');
    const flag = await cli(['spend', '--jsn']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--jsn'");
    expect(flag.stderr).toContain('Did you mean --json?');
    const command = await cli(['keys', 'revok', 'key_1']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('Did you mean revoke?');
    const missing = await cli(['keys', 'issue']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--policy <name>' not specified");
  });

  it('every command has --help with examples (the real process prints them, exit 0)', async () => {
    const leaves: string[] = [];
    const walk = (command: Command, path: string[]) => {
      for (const sub of command.commands) {
        // `mcp` hands its whole command line, --help included, to the gateway's own parser.
        if (sub.name() === 'mcp') continue;
        const name = [...path, sub.name()];
        let help = '';
        sub.configureOutput({ writeOut: (text) => (help += text), writeErr: (text) => (help += text) });
        sub.outputHelp();
        expect(help, name.join(' ')).toMatch(new RegExp(`Examples?:\\n {2}spendguard ${name[0]}`));
        if (sub.commands.length === 0) leaves.push(name.join(' '));
        walk(sub, name);
      }
    };
    walk(buildProgram(), []);
    expect(leaves.sort()).toEqual(
      [
        'init',
        'serve',
        'keys issue',
        'keys derive',
        'keys list',
        'keys revoke',
        'spend',
        'audit tail',
        'audit export',
        'audit verify',
        'approvals list',
        'approvals approve',
        'approvals deny',
        'pending list',
        'pending reconcile',
        'migrate',
        'demo',
        'policy check',
      ].sort(),
    );
    const real = await cli(['approvals', 'deny', '--help']);
    expect(real.code).toBe(0);
    expect(real.stdout).toContain('Example:\n  spendguard approvals deny apr_');
  });

  it('mcp --help hands the command line to @spendguard/mcp, which prints the gateway usage (exit 0)', async () => {
    const help = await cli(['mcp', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toBe(`${USAGE}\n`);
    expect(help.stdout).toContain('Usage: spendguard-mcp [options] -- <command> [args…]');
    expect(help.stdout).toContain('--upstream-url <url>');
    // Not commander's help for the `mcp` subcommand: the gateway's own parser answered.
    expect(help.stdout).not.toContain("the gateway's options (spendguard mcp --help)");
    const bad = await cli(['mcp', '--no-such-option']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('spendguard-mcp:');
    expect(bad.stderr).toContain('Usage: spendguard-mcp');
  });

  it('init writes a starter policy that policy check accepts; a broken one exits 1 naming the path', async () => {
    const sub = mkdtempSync(join(dir, 'init-'));
    const init = await runCli(['init', '--vendors', 'stripe,twilio,resend'], { cwd: sub });
    expect(init.code).toBe(0);
    const text = readFileSync(join(sub, 'spendguard.yaml'), 'utf8');
    expect(text).toContain('STRIPE_SECRET_KEY');
    expect(text).toContain('twilio:');
    const again = await runCli(['init'], { cwd: sub });
    expect(again).toMatchObject({ code: 2 });
    expect(again.stderr).toContain('pass --force');
    const check = await runCli(['policy', 'check', '--json'], { cwd: sub });
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({
      ok: true,
      policies: { 'billing-agent': { name: 'billing-agent' } },
    });
    writeFileSync(join(sub, 'bad.yaml'), text.replace('caps:', 'cap:'));
    const bad = await runCli(['policy', 'check', 'bad.yaml'], { cwd: sub });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/cap/);
    expect(bad.stdout).toContain('billing-agent');
  });
});

it('demo shows duplicates and overspend without spendguard and none with it, exit 0', async () => {
  const demo = await cli(['demo', '--json']);
  expect(demo.code).toBe(0);
  const rows = JSON.parse(demo.stdout) as {
    id: string;
    without: [number, number];
    with: [number, number];
    ok: boolean;
  }[];
  expect(rows.map((r) => r.id)).toEqual(['F1', 'F2', 'F7', 'F8']);
  for (const row of rows) {
    expect(row.ok).toBe(true);
    expect(row.without[1]).toBeGreaterThan(row.with[1]);
  }
  expect(rows.find((r) => r.id === 'F7')?.with).toEqual([6, 90]);
});

describe('against a running `spendguard serve`', () => {
  let serve: ChildProcess;
  let proxyUrl: string;
  let adminUrl: string;
  const store = () => `sqlite:${join(dir, 'served.db')}`;

  beforeAll(async () => {
    serve = spawnCli(
      [
        'serve',
        '--store',
        store(),
        '--port',
        '0',
        '--admin-port',
        '0',
        '--upstream',
        `stripe=${stripeServer.url}`,
      ],
      { cwd: dir, env: env() },
    );
    const [proxy, admin] = await waitForStderr(serve, [
      /proxy on (http:\/\/\S+)/,
      /admin API on (http:\/\/\S+)/,
    ]);
    proxyUrl = (proxy as RegExpExecArray)[1] as string;
    adminUrl = (admin as RegExpExecArray)[1] as string;
  });
  afterAll(async () => {
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve.once('exit', resolve));
  });

  const admin = (args: string[], extra: Record<string, string | undefined> = {}) =>
    cli([...args, '--admin-url', adminUrl], extra);

  it('issues a key, runs calls through the proxy, shows them in spend and audit tail, and revoke stops a running loop', async () => {
    const issued = await admin(['keys', 'issue', '--policy', 'billing-agent', '--name', 'nightly', '--json']);
    expect(issued.code).toBe(0);
    const { key: root, token: rootToken } = JSON.parse(issued.stdout) as {
      key: { id: string };
      token: string;
    };
    const derived = await admin(['keys', 'derive', '--run', 'run-1', '--cap-run', '500', '--json'], {
      SPENDGUARD_KEY: rootToken,
    });
    expect(derived.code).toBe(0);
    const run = JSON.parse(derived.stdout) as { key: { id: string; runId: string }; token: string };
    expect(run.key.runId).toBe('run-1');
    // The token is printed once, at issue; no listing repeats it.
    const listed = await admin(['keys', 'list', '--json']);
    expect(listed.stdout).not.toContain(rootToken);
    expect(listed.stdout).not.toContain('sk_sg_');
    expect(
      JSON.parse(listed.stdout)
        .map((k: { id: string }) => k.id)
        .sort(),
    ).toEqual([root.id, run.key.id].sort());

    // The agent: the official Stripe SDK pointed at the proxy with its run key, charging in a loop.
    const { hostname, port } = new URL(proxyUrl);
    const stripe = new Stripe(run.token, {
      host: hostname,
      port: Number(port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    let n = 0;
    let deniedAt: number | undefined;
    let denial: unknown;
    const loop = (async () => {
      while (deniedAt === undefined && n < 400) {
        n++;
        try {
          await stripe.charges.create({
            amount: 100,
            currency: 'usd',
            source: 'tok_visa',
            metadata: { order: `o${n}` },
          });
        } catch (error) {
          deniedAt = performance.now();
          denial = error;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    while (n < 5) await new Promise((resolve) => setTimeout(resolve, 10));

    const spend = await admin(['spend', '--root', root.id, '--json']);
    const runSpend = (
      JSON.parse(spend.stdout) as { keyId: string; lifetimeUsd: number; caps: { lifetimeUsd: number } }[]
    ).find((s) => s.keyId === run.key.id);
    expect(runSpend?.lifetimeUsd).toBeGreaterThanOrEqual(4);
    expect(runSpend?.caps.lifetimeUsd).toBe(500);
    const tail = await admin(['audit', 'tail', '-n', '3', '--run', 'run-1', '--json']);
    const rows = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(3);
    for (const row of rows)
      expect(row).toMatchObject({ decision: 'executed', runId: 'run-1', vendor: 'stripe' });
    const human = await admin(['audit', 'tail', '-n', '2']);
    expect(human.stdout).toContain('executed');
    expect(human.stdout).toContain('POST /v1/charges');

    const asked = performance.now();
    const revoked = await admin(['keys', 'revoke', run.key.id]);
    const revokedAt = performance.now();
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${run.key.id}`);
    await loop;
    expect(deniedAt).toBeDefined();
    expect((denial as { code?: string }).code).toBe('spendguard_key_revoked');
    // The denial can come before the command has even exited: the store decides at once.
    const latency = (deniedAt as number) - asked;
    console.log(
      `revoke → the agent's next call denied ${latency.toFixed(0)} ms after \`spendguard keys revoke\` started ` +
        `(the command took ${(revokedAt - asked).toFixed(0)} ms, mostly Node start-up; the loop is paced at 20 ms)`,
    );
    expect(deniedAt as number).toBeLessThan(revokedAt + 1000);
    const charged = fakeStripe.ledger.list('charge').length;
    const executed = (
      await admin(['audit', 'tail', '-n', '1000', '--run', 'run-1', '--decision', 'executed', '--json'])
    ).stdout
      .trim()
      .split('\n').length;
    expect(charged).toBe(executed);
  });

  it('prints tables without colour into a pipe, even with CI set; FORCE_COLOR turns colour on', async () => {
    const piped = await admin(['keys', 'list'], { NO_COLOR: undefined, CI: 'true' });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('policy');
    expect(piped.stdout).not.toContain('\u001b[');
    const forced = await admin(['keys', 'list'], { NO_COLOR: undefined, FORCE_COLOR: '1' });
    expect(forced.stdout).toContain('\u001b[1mpolicy');
    const json = await admin(['keys', 'list', '--json'], { NO_COLOR: undefined, FORCE_COLOR: '1' });
    expect(json.stdout).not.toContain('\u001b[');
  });

  it("serves the admin API on its own listener: the proxy's port does not answer it", async () => {
    const response = await fetch(`${proxyUrl}/v1/keys`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await response.text()).not.toContain('"keys"');
  });

  it('refuses a wrong admin token with exit 1 and says which variable to set', async () => {
    const wrong = await admin(['keys', 'list'], { SPENDGUARD_ADMIN_TOKEN: 'not-the-admin-token-at-all-000' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('refused the admin token');
    const none = await admin(['keys', 'list'], { SPENDGUARD_ADMIN_TOKEN: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('SPENDGUARD_ADMIN_TOKEN');
  });

  it('audit verify passes, then exits 1 naming the row someone edited in the database', async () => {
    const ok = await admin(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/audit log intact: \d+ rows/);
    const db = new DatabaseSync(join(dir, 'served.db'));
    db.prepare("UPDATE sg_audit SET data = json_set(data, '$.amount', 9999) WHERE seq = 2").run();
    db.close();
    const broken = await admin(['audit', 'verify', '--json']);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, seq: 2, problem: 'edited' });
    const human = await admin(['audit', 'verify']);
    expect(human.stdout).toContain('BROKEN at row 2');
  });

  it('audit tail -f prints a row written after it started', async () => {
    const follow = spawnCli(
      ['audit', 'tail', '-n', '0', '-f', '--interval', '100', '--admin-url', adminUrl, '--json'],
      {
        cwd: dir,
        env: env(),
      },
    );
    let out = '';
    follow.stdout?.on('data', (chunk) => {
      out += chunk;
    });
    await waitForStderr(follow, [/following the audit log after row \d+/]);
    const issued = await admin(['keys', 'issue', '--policy', 'billing-agent', '--json']);
    const token = JSON.parse(issued.stdout).token as string;
    const { hostname, port } = new URL(proxyUrl);
    const stripe = new Stripe(token, {
      host: hostname,
      port: Number(port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    const charge = await stripe.charges.create({
      amount: 250,
      currency: 'usd',
      source: 'tok_visa',
      metadata: { order: 'follow' },
    });
    for (let i = 0; i < 100 && !out.includes(charge.id); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    follow.kill('SIGTERM');
    expect(out).toContain(charge.id);
    expect(JSON.parse(out.trim().split('\n').at(-1) as string)).toMatchObject({
      decision: 'executed',
      amount: 2.5,
    });
  });
});

describe('directly on a store', () => {
  it('lists and approves a pending approval, and settles an unknown outcome, with --store', async () => {
    const file = join(dir, 'direct.db');
    process.env.SG_CLI_TEST_STRIPE = STRIPE_SECRET;
    const guard = createGuard({ policies: join(dir, 'spendguard.yaml'), store: new SqliteStore({ file }) });
    const root = await guard.keys.issueRoot({ policy: 'billing-agent' });
    const big = {
      key: root.token,
      vendor: 'stripe',
      method: 'POST',
      path: '/v1/charges',
      params: { amount: '40000', currency: 'usd', source: 'tok_visa' },
    };
    expect((await guard.execute(big, async () => ({ id: 'ch_big', amount: 40000 }))).decision).toBe(
      'needs_approval',
    );
    const timeout = { ...big, params: { amount: '1500', currency: 'usd', source: 'tok_visa' } };
    await guard.execute(timeout, async () => {
      throw new VendorCallError('socket hang up', { outcome: 'unknown' });
    });
    const direct = (args: string[]) => cli([...args, '--store', `sqlite:${file}`]);

    const approvals = await direct(['approvals', 'list', '--json']);
    expect(approvals.code).toBe(0);
    const [pendingApproval] = JSON.parse(approvals.stdout) as { id: string; costMicros: number }[];
    expect(pendingApproval?.costMicros).toBe(400_000_000);
    const approved = await direct([
      'approvals',
      'approve',
      pendingApproval?.id as string,
      '--by',
      'lead@shop',
    ]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain('approved by lead@shop');
    expect((await guard.execute(big, async () => ({ id: 'ch_big', amount: 40000 }))).decision).toBe(
      'executed',
    );
    const other = { ...big, params: { ...big.params, amount: '45000' } };
    expect((await guard.execute(other, async () => ({ id: 'ch_other' }))).decision).toBe('needs_approval');
    const [second] = JSON.parse((await direct(['approvals', 'list', '--json'])).stdout) as { id: string }[];
    const denied = await direct([
      'approvals',
      'deny',
      second?.id as string,
      '--reason',
      'not today',
      '--json',
    ]);
    expect(denied.code).toBe(0);
    expect(JSON.parse(denied.stdout)).toMatchObject({ id: second?.id, state: 'denied' });
    expect(await guard.execute(other, async () => ({ id: 'ch_other' }))).toMatchObject({
      decision: 'denied',
      code: 'approval_denied',
    });
    expect((await direct(['approvals', 'deny', second?.id as string])).code).toBe(1);

    const pending = await direct(['pending', 'list', '--json']);
    const [call] = JSON.parse(pending.stdout) as { checkpointId: string; reservedUsd: number }[];
    expect(call?.reservedUsd).toBe(15);
    const settled = await direct([
      'pending',
      'reconcile',
      call?.checkpointId as string,
      '--outcome',
      'failed',
      '--by',
      'oncall',
    ]);
    expect(settled.code).toBe(0);
    expect(settled.stdout).toContain('settled: failed');
    expect(JSON.parse((await direct(['pending', 'list', '--json'])).stdout)).toEqual([]);
    const unknown = await direct([
      'pending',
      'reconcile',
      call?.checkpointId as string,
      '--outcome',
      'failed',
    ]);
    expect(unknown.code).toBe(1);
    const bad = await direct(['pending', 'reconcile', 'cp_x', '--outcome', 'maybe']);
    expect(bad.code).toBe(2);
    await guard.close();
  });
});

describe('audit by trace', () => {
  it('audit tail and export --trace show the rows of one trace: its id, or it followed by ;', async () => {
    const file = join(dir, 'traced.db');
    const store = new SqliteStore({ file });
    const traceIds = [
      'trace_abc',
      'trace_abc;group=grp_1',
      'trace_ab',
      'trace_abcd',
      '1%_x\\;thread=t',
      null,
    ];
    for (const [i, traceId] of traceIds.entries()) {
      await store.appendAudit({ ...chargeAudit('key_1', `k${i}`, Date.UTC(2026, 10, 1) + i), traceId });
    }
    await store.close();
    const onStore = (args: string[]) => cli([...args, '--store', `sqlite:${file}`]);
    const traces = (stdout: string) =>
      stdout
        .trimEnd()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => (JSON.parse(l) as { traceId: string }).traceId);

    const exported = await onStore(['audit', 'export', '--trace', 'trace_abc']);
    expect(exported.code).toBe(0);
    expect(traces(exported.stdout)).toEqual(['trace_abc', 'trace_abc;group=grp_1']);
    const tail = await onStore(['audit', 'tail', '--trace', 'trace_abc', '-n', '1', '--json']);
    expect(tail.code).toBe(0);
    expect(traces(tail.stdout)).toEqual(['trace_abc;group=grp_1']);
    const near = await onStore(['audit', 'tail', '--trace', 'trace_ab', '--json']);
    expect(traces(near.stdout)).toEqual(['trace_ab']);
    const hostile = await onStore(['audit', 'export', '--trace', '1%_x\\']);
    expect(traces(hostile.stdout)).toEqual(['1%_x\\;thread=t']);
    const pattern = await onStore(['audit', 'tail', '--trace', '1%', '--json']);
    expect(pattern).toMatchObject({ code: 0, stdout: '' });
  });
});

describe('long work', () => {
  it('audit export streams every row as JSON lines with a progress bar on stderr; verify shows progress too', async () => {
    const file = join(dir, 'long.db');
    const rows = 12_000; // past the 10,000 rows from which a bar shows even off a terminal
    writeAuditLog(file, rows);
    const onStore = (args: string[]) => cli([...args, '--store', `sqlite:${file}`]);
    const out = join(dir, 'long.jsonl');
    const exported = await onStore(['audit', 'export', '--out', out]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(/export \[[^\n]*\] 100% \| 12000\/12000 rows/);
    expect(exported.stderr).toContain(`exported ${rows} rows to ${out}`);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(rows);
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(
      Array.from({ length: rows }, (_, i) => i + 1),
    );
    // To stdout, filtered and resumed: only the rows asked for, nothing but JSON lines.
    const tail = await onStore(['audit', 'export', '--run', 'run-3', '--after', '11950']);
    expect(tail.code).toBe(0);
    const seqs = tail.stdout
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number; runId: string }).seq);
    expect(seqs).toEqual([11954, 11964, 11974, 11984, 11994]);

    const verified = await onStore(['audit', 'verify']);
    expect(verified.code).toBe(0);
    expect(verified.stderr).toMatch(/verify \[[^\n]*\] 100% \| 12000\/12000 rows/);
    expect(verified.stdout).toContain(`audit log intact: ${rows} rows`);
  });

  it('migrate creates the Postgres schema, then finds it current', async () => {
    const schema = `sg_cli_${process.pid}_${randomBytes(4).toString('hex')}`;
    const url = `${POSTGRES_URL}?schema=${schema}`;
    try {
      const first = await runCli(['migrate', '--store', url], { cwd: dir });
      expect(first.code).toBe(0);
      const [, version] = /migrated schema from version 0 to (\d+)/.exec(first.stdout) ?? [];
      expect(Number(version)).toBeGreaterThan(0);
      const again = await runCli(['migrate'], { cwd: dir, env: { SPENDGUARD_STORE: url } });
      expect(again).toMatchObject({ code: 0, stdout: `schema already at version ${version}\n` });
      const notPostgres = await runCli(['migrate', '--store', 'sqlite:x.db'], { cwd: dir });
      expect(notPostgres.code).toBe(2);
    } finally {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });
});
