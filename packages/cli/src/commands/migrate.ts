import { UsageError } from '../cli-error.ts';

export default async function migrate(options: { store?: string }) {
  const url = options.store ?? process.env.SPENDGUARD_STORE;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    throw new UsageError('migrate needs a Postgres store: --store postgres://… (or SPENDGUARD_STORE)');
  }
  const { PostgresStore } = await import('@spendguard/postgres');
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? undefined;
  parsed.searchParams.delete('schema');
  const store = new PostgresStore({ url: parsed.toString(), ...(schema !== undefined && { schema }) });
  try {
    const { from, to } = await store.migrate();
    process.stdout.write(
      from === to ? `schema already at version ${to}\n` : `migrated schema from version ${from} to ${to}\n`,
    );
  } finally {
    await store.close();
  }
}
