/**
 * The root README's "Using it" section, run as a newcomer runs it: its code blocks are read from
 * README.md (parsed, never copied here), the shell steps run through the `spendguard` command
 * (from source, as a child process), and the TypeScript snippets run as pasted, one after the
 * other in one file, in a fresh Node process — with the root key from `spendguard keys issue`
 * in SPENDGUARD_KEY, and the Stripe clients pointed at the testkit's fake Stripe in the way the
 * README documents for "another host" (the Stripe SDK's `config`). Running the file twice must
 * create each PaymentIntent once.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFakeStripe, type FakeServer } from '@spendguard/testkit';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../packages/cli/src/cli-runner.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STRIPE_SECRET = 'sk_test_readme_REAL_stripe_secret_0123456789';

// --- The README, parsed -------------------------------------------------------------------------

interface CodeBlock {
  lang: string;
  code: string;
}

/** The body of the `## <title>` section: up to the next heading of level 2 or higher. */
function section(markdown: string, title: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  if (start === -1) throw new Error(`README.md has no "## ${title}" section`);
  const body: string[] = [];
  let fenced = false;
  for (const line of lines.slice(start + 1)) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (!fenced && /^#{1,2} /.test(line)) break;
    body.push(line);
  }
  return body.join('\n');
}

/** Fenced code blocks (CommonMark: ``` or ~~~, closed by a fence of the same kind at least as long). */
function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  let open: { fence: string; lang: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    if (open === undefined) {
      const start = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
      if (start) open = { fence: start[1] as string, lang: start[2] ?? '', lines: [] };
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, '') === '') {
      blocks.push({ lang: open.lang, code: `${open.lines.join('\n')}\n` });
      open = undefined;
    } else {
      open.lines.push(line);
    }
  }
  if (open !== undefined) throw new Error('unclosed code block in README.md');
  return blocks;
}

/** Shell lines without comments (`# …` outside quotes) and blank lines. */
function shellCommands(code: string): string[][] {
  return code
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/\s+/));
}

/** The package a module specifier names (`@scope/name/sub` → `@scope/name`), or undefined for Node's own. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function importsOf(code: string): string[] {
  return [...code.matchAll(/^\s*import\s[^'"]*?['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);
}

/** Replace `find` in `text`, which must occur exactly once (so a README edit cannot slip past). */
function replaceOnce(text: string, find: string | RegExp, replacement: string): string {
  const count =
    typeof find === 'string'
      ? text.split(find).length - 1
      : [...text.matchAll(new RegExp(find.source, `${find.flags}g`))].length;
  if (count !== 1) throw new Error(`expected exactly one ${String(find)} in the snippet, found ${count}`);
  return text.replace(find, replacement);
}

const usingIt = section(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'Using it');
const blocks = codeBlocks(usingIt);
const yaml = blocks.filter((b) => b.lang === 'yaml');
const shell = blocks.filter((b) => b.lang === 'sh');
const snippets = blocks.filter((b) => b.lang === 'ts').map((b) => b.code);
const pick = (what: string, test: (code: string) => boolean): string => {
  const found = snippets.filter(test);
  if (found.length !== 1) throw new Error(`expected one "Using it" snippet ${what}, found ${found.length}`);
  return found[0] as string;
};

// --- Running it ----------------------------------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runNode(file: string, cwd: string, env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, ['--conditions=@spendguard/source', file], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

let dir: string;
let fake: ReturnType<typeof createFakeStripe>;
let server: FakeServer;

beforeAll(async () => {
  // Inside the workspace, so the snippets' imports resolve as an installed app's would
  // (`.spendguard/` is git-ignored).
  mkdirSync(join(ROOT, '.spendguard'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.spendguard', 'readme-using-it-'));
  writeFileSync(join(dir, 'package.json'), '{ "private": true, "type": "module" }\n');
  fake = createFakeStripe({ secretKey: STRIPE_SECRET });
  server = await fake.listen();
});
afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README "Using it"', () => {
  it('has the policy, the setup commands and the three TypeScript snippets', () => {
    expect(yaml).toHaveLength(1);
    expect(shell).toHaveLength(1);
    expect(snippets).toHaveLength(3);
  });

  it('names every package the snippets import (and the `spendguard` command) in its install line', () => {
    const install = shellCommands(shell[0]?.code ?? '').find((c) => c[0] === 'npm' && c[1] === 'install');
    expect(install, 'an `npm install …` line').toBeDefined();
    const installed = new Set((install ?? []).slice(2).filter((a) => !a.startsWith('-')));
    const imported = new Set(
      snippets
        .flatMap(importsOf)
        .map(packageOf)
        .filter((p) => p !== undefined),
    );
    expect([...imported].sort()).toEqual(
      expect.arrayContaining(['@spendguard/core', 'stripe']), // `@spendguard/core/stripe` needs `stripe`
    );
    for (const name of imported) expect(installed, `npm install names ${name}`).toContain(name);
    expect(installed).toContain('@spendguard/cli'); // `npx spendguard …`
    // Each named package is one of this workspace's, or a dependency the workspace itself uses.
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    for (const name of installed) {
      const ours = name.startsWith('@spendguard/');
      expect(ours || name in root.devDependencies, `${name} is known`).toBe(true);
    }
  });

  it('type-checks as pasted, one snippet after the other in one file: every import and variable is defined', () => {
    const file = join(dir, 'typecheck.ts');
    writeFileSync(file, snippets.join('\n'));
    const base = ts.getParsedCommandLineOfConfigFile(
      join(ROOT, 'tsconfig.base.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    const program = ts.createProgram([file], { ...base?.options, noEmit: true, noUnusedLocals: false });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file || d.file === undefined)
      .map((d) => {
        const where =
          d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
        return `${where ? `line ${where.line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  });

  it('runs as pasted: the key from `spendguard keys issue`, each PaymentIntent once across two runs', async () => {
    // 1. The shell steps, in order. `npm install` is what this workspace already has; the
    // `spendguard` command is the CLI's source bin. After `init`, "edit it" is the README's policy.
    const commands = shellCommands(shell[0]?.code ?? '');
    const cliSteps = commands.filter((c) => c[0] === 'npx' && c[1] === 'spendguard').map((c) => c.slice(2));
    expect(cliSteps.map((args) => args[0])).toEqual(['init', 'policy', 'keys']);
    const env = { STRIPE_SECRET_KEY: STRIPE_SECRET };
    let issued: CliResult | undefined;
    for (const args of cliSteps) {
      const result = await runCli(args, { cwd: dir, env });
      expect(result.code, `spendguard ${args.join(' ')}: ${result.stderr}`).toBe(0);
      if (args[0] === 'init') {
        expect(readFileSync(join(dir, 'spendguard.yaml'), 'utf8')).toContain('STRIPE_SECRET_KEY');
        writeFileSync(join(dir, 'spendguard.yaml'), yaml[0]?.code ?? '');
      }
      if (args[0] === 'keys') issued = result;
    }
    const tokens = issued?.stdout.match(/\bsk_sg_\S+/g) ?? [];
    expect(tokens, 'keys issue prints the token once').toHaveLength(1);
    const SPENDGUARD_KEY = tokens[0] as string;

    // 2. The snippets in one file, as pasted. The fake Stripe is "another host": the README's
    // `config` (its port made the fake's) goes to the governed client, as documented, and to the
    // plain Stripe SDK client the `guard.execute` snippet calls.
    const execute = pick('calling guard.execute', (c) => c.includes('guard.execute('));
    const governed = pick('making the governed client', (c) =>
      c.includes('createGovernedStripe({ guard, key: run.token })'),
    );
    const another = pick('pointing at another host', (c) => c.includes('config:'));
    const pointed = /createGovernedStripe\(\{[\s\S]*?config:\s*(\{[^}]*\})[\s\S]*?\}\)/.exec(another);
    expect(pointed, 'the "another host" snippet passes `config` to createGovernedStripe').not.toBeNull();
    const [governedCall, config] = (pointed as RegExpExecArray).map((s) =>
      replaceOnce(s, /port:\s*\d+/, `port: ${server.port}`),
    ) as [string, string];
    expect(config).toMatch(/host: '127\.0\.0\.1'/);
    expect(config).toMatch(/protocol: 'http'/);
    const customers = new Set(
      [...snippets.join('\n').matchAll(/customer: '(cus_\w+)'/g)].map((m) => m[1] as string),
    );
    for (const id of customers) fake.ledger.put({ id, object: 'customer' }); // they exist at "Stripe"
    // What the README says of the governed client: "the same call again returns the same
    // PaymentIntent"; "amount: 5001 (over the policy's max) raises StripePermissionError".
    const call = /await (governed\.paymentIntents\.create\(\{[^}]*\}\));/.exec(governed)?.[1];
    const overAmount = /\/\/ amount: (\d+) \(over the policy's max\) raises StripePermissionError/.exec(
      governed,
    )?.[1];
    expect(call, 'the governed snippet creates a PaymentIntent').toBeDefined();
    expect(overAmount, "the governed snippet names an amount over the policy's max").toBeDefined();
    const overCall = replaceOnce(call as string, /amount: \d+/, `amount: ${overAmount}`).replace(
      'governed.',
      'local.',
    );
    const program = [
      replaceOnce(execute, /new Stripe\(('[^']*')\)/, `new Stripe($1, ${config})`),
      replaceOnce(governed, 'createGovernedStripe({ guard, key: run.token })', governedCall),
      another.replace(/port:\s*\d+/, `port: ${server.port}`),
      // Appended by the test: those two promises, printed to be checked.
      `const again = await ${call};
let over: any;
try {
  await ${overCall};
} catch (error) {
  over = error;
}
console.log('CHECK ' + JSON.stringify({ again: again.id, over: over && { type: over.type, code: over.code } }));
await guard.close();
`,
    ].join('\n');
    const file = join(dir, 'agent.ts');
    writeFileSync(file, program);

    const runs: Run[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await runNode(file, dir, { ...env, SPENDGUARD_KEY });
      expect(run.code, `run ${i + 1}: ${run.stderr}`).toBe(0);
      runs.push(run);
    }
    const results = runs.map((run) => {
      const lines = run.stdout.trim().split('\n');
      const check = lines.find((l) => l.startsWith('CHECK ')) as string;
      return {
        executed: lines[0] as string,
        ...(JSON.parse(check.slice('CHECK '.length)) as {
          again: string;
          over?: { type: string; code: string };
        }),
      };
    });
    const [first, second] = results as [(typeof results)[0], (typeof results)[0]];
    // The guard.execute snippet printed the PaymentIntent's id; the second run replayed it.
    expect(first.executed).toMatch(/^pi_\w+$/);
    expect(second.executed).toBe(first.executed);
    expect(second.again).toBe(first.again);
    expect(first.again).toMatch(/^pi_\w+$/);
    // amount: 5001 (over the policy's max) raises StripePermissionError { code: 'spendguard_param_not_allowed' }
    expect(first.over).toEqual({ type: 'StripePermissionError', code: 'spendguard_param_not_allowed' });

    // At the fake Stripe: one PaymentIntent per snippet call, though the file ran twice; both
    // requests authenticated with the real key, which only the guard has (the clients' own
    // keys would be refused with a 401).
    const intents = fake.ledger.list('payment_intent');
    expect(intents.map((pi) => pi.id).sort()).toEqual([first.executed, first.again].sort());
    const amounts = [execute, call as string].map((c) => Number(/amount: (\d+)/.exec(c)?.[1]));
    expect(intents.map((pi) => pi.amount).sort()).toEqual(amounts.sort());
    const posts = fake.ledger.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents');
    expect(posts.map((r) => r.status)).toEqual([200, 200]);
    expect(new Set(posts.map((r) => r.idempotencyKey)).size).toBe(2);

    // The same store the command wrote the key to: the audit log shows both runs.
    const audit = await runCli(['audit', 'tail', '-n', '50', '--json'], { cwd: dir, env });
    expect(audit.code, audit.stderr).toBe(0);
    const rows = audit.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { decision: string; code: string; runId: string | null });
    const one = (r: (typeof rows)[number]) => `${r.decision}/${r.code}`;
    expect(rows.map(one)).toEqual([
      // run 1: the guard.execute snippet and the governed client each charge; the same call again
      // is a replay; amount: 5001 is refused before Stripe hears of it
      'executed/executed',
      'executed/executed',
      'replayed/replayed',
      'denied/param_not_allowed',
      // run 2, the same file again with the same SPENDGUARD_KEY: nothing new reaches Stripe
      'replayed/replayed',
      'replayed/replayed',
      'replayed/replayed',
      'denied/param_not_allowed',
    ]);
    expect(new Set(rows.map((r) => r.runId))).toEqual(new Set(['run-42']));
  });
});
