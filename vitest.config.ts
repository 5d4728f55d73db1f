import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript source through the `@spendguard/source` export
// condition, so tests never run against a stale build. (A private name: some dependencies publish
// a plain `source` condition pointing at TypeScript that Node will not run from node_modules.)
// No `module` condition: packages resolve to the entry Node itself loads (some, like
// OpenTelemetry's, publish a `module` build that Node cannot run).
const conditions = ['@spendguard/source', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
