import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'adapters/index': 'src/adapters/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: ['msw', '@spendguard/core', 'stripe', 'vitest'],
  removeNodeProtocol: false,
});
