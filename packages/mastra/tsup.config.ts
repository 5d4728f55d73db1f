import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: [
    '@spendguard/core',
    '@spendguard/testkit',
    '@spendguard/ai-sdk',
    '@mastra/core',
    '@mastra/memory',
    '@mastra/libsql',
    'ai',
    'stripe',
    'zod',
    'vitest',
  ],
  removeNodeProtocol: false,
});
