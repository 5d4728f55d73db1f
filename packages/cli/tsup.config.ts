import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', bin: 'src/bin.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts' } },
  clean: true,
  target: 'node22',
  external: [
    '@spendguard/admin',
    '@spendguard/core',
    '@spendguard/postgres',
    '@spendguard/proxy',
    '@spendguard/mcp',
    '@spendguard/testkit',
    'stripe',
    'cli-progress',
    'cli-table3',
    'commander',
    'picocolors',
  ],
  removeNodeProtocol: false,
});
