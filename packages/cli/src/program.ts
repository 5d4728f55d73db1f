import { Command, CommanderError, Option } from 'commander';
import { EXIT } from './cli-error.ts';

/** Options of every command that talks to the admin API or a store. */
function connected(command: Command): Command {
  return command
    .option('--admin-url <url>', 'a running `spendguard serve` admin API (token from SPENDGUARD_ADMIN_TOKEN)')
    .option(
      '--store <spec>',
      'the store itself: sqlite:<file>, redis://…, postgres://… (default: SQLite under .spendguard/)',
    )
    .option('--config <file>', 'policy file, with --store or the default store', 'spendguard.yaml')
    .option('--json', 'print JSON for scripts');
}

/** Each command's module is loaded when it runs, so `spendguard --help` stays fast. */
const run =
  <A extends unknown[]>(load: () => Promise<{ default: (...args: A) => Promise<void> }>) =>
  async (...args: A) =>
    (await load()).default(...args);

/** The lines after a command's options in its `--help`: how people really call it. */
const examples = (...lines: string[]) =>
  `\n${lines.length === 1 ? 'Example' : 'Examples'}:\n${lines.map((l) => `  ${l}`).join('\n')}`;

const money = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new CommanderError(EXIT.usage, 'usage', `${value} is not a positive USD amount`);
  return n;
};
const count = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new CommanderError(EXIT.usage, 'usage', `${value} is not a positive whole number`);
  return n;
};

const whole = (value: string) => {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CommanderError(EXIT.usage, 'usage', `${value} is not a whole number`);
  return n;
};

export function buildProgram(): Command {
  const program = new Command('spendguard')
    .description('Exactly-once, capped, revocable and audited billing calls for AI agents.')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 denied or a failed check, 2 usage error.

Examples:
  spendguard init --vendors stripe,twilio
  spendguard serve --port 4242 --admin-port 4243
  spendguard keys issue --policy billing-agent
  spendguard spend
  spendguard audit tail -f`,
    );

  program
    .command('init')
    .description('write a commented starter spendguard.yaml for the vendors you use')
    .option('--vendors <list>', 'comma-separated: stripe, twilio, resend', 'stripe')
    .option('--file <path>', 'where to write it', 'spendguard.yaml')
    .option('--force', 'overwrite an existing file')
    .addHelpText('after', examples('spendguard init --vendors stripe,resend'))
    .action(run(() => import('./commands/init.ts')));

  program
    .command('serve')
    .description('serve the vendor proxy, and the admin API on its own listener')
    .option('--config <file>', 'policy file', 'spendguard.yaml')
    .option('--store <spec>', 'sqlite:<file>, redis://…, postgres://… (default: SQLite under .spendguard/)')
    .option('--host <host>', 'proxy interface', '127.0.0.1')
    .addOption(new Option('--port <port>', 'proxy port').default(4242).argParser(Number))
    .option('--admin-host <host>', 'admin API interface', '127.0.0.1')
    .addOption(new Option('--admin-port <port>', 'admin API port').default(4243).argParser(Number))
    .option('--no-admin', 'serve the proxy only')
    .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM)')
    .option('--tls-key <file>', 'and this key (PEM)')
    .option(
      '--upstream <vendor=url>',
      "send a vendor's calls to another base URL (a fake, a staging host); repeatable",
      (value: string, all: string[] = []) => [...all, value],
    )
    .addHelpText(
      'after',
      '\nThe admin API needs SPENDGUARD_ADMIN_TOKEN (24+ characters) in the environment.\n' +
        examples(
          'spendguard serve --port 4242 --admin-port 4243',
          'SPENDGUARD_ADMIN_TOKEN=$(openssl rand -hex 24) spendguard serve --store redis://127.0.0.1:6379',
        ),
    )
    .action(run(() => import('./commands/serve.ts')));

  const keys = program
    .command('keys')
    .description('issue, derive, list and revoke vault keys')
    .addHelpText(
      'after',
      examples('spendguard keys issue --policy billing-agent', 'spendguard keys revoke key_…'),
    );
  connected(keys.command('issue'))
    .description('issue a root key for an agent role; its token is printed once')
    .requiredOption('--policy <name>', 'the policy (agent role) in the policy file')
    .option('--name <label>', 'a label for people')
    .option('--ttl <duration>', 'time to live, e.g. 30d')
    .addHelpText(
      'after',
      examples(
        'spendguard keys issue --policy billing-agent --name nightly',
        'export SPENDGUARD_KEY=$(spendguard keys issue --policy billing-agent --json | jq -r .token)',
      ),
    )
    .action(run(() => import('./commands/keys.ts').then((m) => ({ default: m.issue }))));
  connected(keys.command('derive'))
    .description('derive a narrower key (a run key) from the token in $SPENDGUARD_KEY')
    .option('--parent-env <name>', 'environment variable holding the parent token', 'SPENDGUARD_KEY')
    .option('--run <id>', 'the run this key is for')
    .option('--name <label>', 'a label for people')
    .option('--ttl <duration>', 'time to live, no longer than the parent')
    .option('--cap-run <usd>', 'run cap in USD', money)
    .option('--cap-day <usd>', 'daily cap in USD', money)
    .option('--cap-hour <usd>', 'hourly cap in USD', money)
    .option('--cap-call <usd>', 'per-call cap in USD', money)
    .addHelpText('after', examples('spendguard keys derive --run nightly-2026-11-30 --cap-run 100'))
    .action(run(() => import('./commands/keys.ts').then((m) => ({ default: m.derive }))));
  connected(keys.command('list'))
    .description('list keys (never their tokens)')
    .option('--root <id>', 'keys under this root key')
    .addOption(
      new Option('--state <state>', 'only keys in this state').choices(['active', 'revoked', 'expired']),
    )
    .option('--limit <n>', 'at most this many', count, 100)
    .addHelpText(
      'after',
      examples('spendguard keys list --state active', 'spendguard keys list --root key_… --json'),
    )
    .action(run(() => import('./commands/keys.ts').then((m) => ({ default: m.list }))));
  connected(keys.command('revoke'))
    .description('revoke a key: its next call, and every call of keys derived from it, is denied')
    .argument('<key-id>', 'the key id (key_…)')
    .addHelpText('after', examples('spendguard keys revoke key_3f9c0a1b2c3d4e5f'))
    .action(run(() => import('./commands/keys.ts').then((m) => ({ default: m.revoke }))));

  connected(program.command('spend'))
    .description('USD spent per active key and window, against each cap')
    .option('--root <id>', 'the root key and its run keys (default: every root key)')
    .option('--limit <n>', 'at most this many keys', count, 100)
    .addHelpText(
      'after',
      examples(
        'spendguard spend',
        'spendguard spend --root key_… --json',
        'spendguard spend --store redis://127.0.0.1:6379',
      ),
    )
    .action(run(() => import('./commands/spend.ts')));

  const audit = program
    .command('audit')
    .description('read, export and verify the audit log')
    .addHelpText('after', examples('spendguard audit tail -f', 'spendguard audit verify'));
  const filtered = (command: Command) =>
    connected(command)
      .option('--key <id>', 'rows of this key')
      .option('--root <id>', 'rows under this root key')
      .option('--run <id>', 'rows of this run')
      .option(
        '--decision <list>',
        'comma-separated: executed, replayed, needs_approval, denied, failed, approved',
      )
      .option('--vendor <name>', 'rows of this vendor')
      .option('--trace <id>', "rows of this trace: its id, alone or followed by ';' and more");
  filtered(audit.command('tail'))
    .description('the newest audit rows; -f follows new ones')
    .option('-n, --lines <n>', 'how many rows (0: only new ones, with -f)', whole, 20)
    .option('-f, --follow', 'keep printing new rows')
    .option('--interval <ms>', 'how often to look for new rows with -f', count, 500)
    .addHelpText(
      'after',
      examples(
        'spendguard audit tail -n 50 --key key_…',
        'spendguard audit tail -f --decision denied,failed --json',
      ),
    )
    .action(run(() => import('./commands/audit.ts').then((m) => ({ default: m.tail }))));
  filtered(audit.command('export'))
    .description('every matching row as JSON lines, streamed (progress on stderr)')
    .option('--out <file>', 'write to this file (default: standard output)')
    .option('--after <seq>', 'resume after this row', Number)
    .addHelpText(
      'after',
      examples(
        'spendguard audit export --key key_… --out runaway.jsonl',
        'spendguard audit export --after 120000 > rest.jsonl',
      ),
    )
    .action(run(() => import('./commands/audit.ts').then((m) => ({ default: m.exportRows }))));
  connected(audit.command('verify'))
    .description('recompute the hash chain; exit 1 naming the first bad row')
    .addHelpText(
      'after',
      examples(
        'spendguard audit verify',
        'spendguard audit verify --store sqlite:.spendguard/spendguard.db --json',
      ),
    )
    .action(run(() => import('./commands/audit.ts').then((m) => ({ default: m.verify }))));

  const approvals = program
    .command('approvals')
    .description('calls waiting for a person')
    .addHelpText('after', examples('spendguard approvals list', 'spendguard approvals approve apr_…'));
  connected(approvals.command('list'))
    .description('pending approvals (or --state approved|denied)')
    .addOption(new Option('--state <state>').choices(['pending', 'approved', 'denied']).default('pending'))
    .addHelpText(
      'after',
      examples('spendguard approvals list', 'spendguard approvals list --state denied --json'),
    )
    .action(run(() => import('./commands/approvals.ts').then((m) => ({ default: m.list }))));
  for (const verdict of ['approve', 'deny'] as const) {
    connected(approvals.command(verdict))
      .description(`${verdict} a pending call; the audit row names you`)
      .argument('<approval-id>')
      .option('--by <name>', 'who decides (default: your user name)')
      .option('--reason <text>', 'why')
      .addHelpText(
        'after',
        examples(`spendguard approvals ${verdict} apr_… --by lead@shop --reason "checked with finance"`),
      )
      .action(run(() => import('./commands/approvals.ts').then((m) => ({ default: m[verdict] }))));
  }

  const pending = program
    .command('pending')
    .description('calls with an unknown outcome, to settle')
    .addHelpText(
      'after',
      examples('spendguard pending list', 'spendguard pending reconcile cp_… --outcome failed'),
    );
  connected(pending.command('list'))
    .description('calls nobody is finishing, oldest first')
    .option('--limit <n>', 'at most this many', count, 100)
    .addHelpText('after', examples('spendguard pending list', 'spendguard pending list --json'))
    .action(run(() => import('./commands/pending.ts').then((m) => ({ default: m.list }))));
  connected(pending.command('reconcile'))
    .description('settle a pending call as executed (at a cost) or failed (releasing its reservation)')
    .argument('<checkpoint-id>')
    .addOption(new Option('--outcome <outcome>').choices(['executed', 'failed']).makeOptionMandatory())
    .option('--cost <usd>', 'what it really cost (default: the reservation)', Number)
    .option('--object-id <id>', "the vendor's id of what it made (ch_…)")
    .option('--by <name>', 'who settles it (default: your user name)')
    .addHelpText(
      'after',
      examples(
        'spendguard pending reconcile cp_… --outcome failed',
        'spendguard pending reconcile cp_… --outcome executed --cost 15 --object-id ch_3Nx…',
      ),
    )
    .action(run(() => import('./commands/pending.ts').then((m) => ({ default: m.reconcile }))));

  program
    .command('migrate')
    .description('create or upgrade the Postgres schema')
    .option('--store <url>', 'postgres://… (default: SPENDGUARD_STORE)')
    .addHelpText(
      'after',
      examples(
        'spendguard migrate --store postgres://spendguard@db:5432/spendguard',
        'spendguard migrate --store "postgres://…?schema=billing"',
      ),
    )
    .action(run(() => import('./commands/migrate.ts')));

  program
    .command('demo')
    .description('duplicates and overspend without spendguard, none with it, against a fake Stripe (no keys)')
    .option('--json', 'print JSON for scripts')
    .addHelpText('after', examples('spendguard demo'))
    .action(run(() => import('./commands/demo.ts')));

  const policy = program
    .command('policy')
    .description('policy files')
    .addHelpText('after', examples('spendguard policy check spendguard.yaml'));
  policy
    .command('check')
    .description('validate a policy file and print each policy as resolved')
    .argument('[file]', 'the policy file', 'spendguard.yaml')
    .option('--json', 'print JSON for scripts')
    .addHelpText('after', examples('spendguard policy check', 'spendguard policy check staging.yaml --json'))
    .action(run(() => import('./commands/policy.ts')));

  program
    .command('mcp')
    .description("the MCP gateway: govern an MCP server's billing tools (see @spendguard/mcp)")
    .helpOption(false)
    .argument('[args...]', "the gateway's options (spendguard mcp --help)");

  return program;
}

/** Run the command line; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // `spendguard mcp …` is the gateway's own command line, passed on untouched (`--` included).
  if (argv[2] === 'mcp') return (await import('./commands/mcp.ts')).default(argv.slice(3));
  const program = buildProgram();
  for (const command of allCommands(program)) command.exitOverride();
  try {
    await program.parseAsync(argv as string[]);
    return process.exitCode === undefined ? EXIT.ok : Number(process.exitCode);
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      ) {
        return EXIT.ok;
      }
      if (error.code === 'usage') process.stderr.write(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    const { CliError } = await import('./cli-error.ts');
    if (error instanceof CliError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${(error as Error)?.message ?? String(error)}\n`);
    return EXIT.failed;
  }
}

function* allCommands(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) yield* allCommands(sub);
}
