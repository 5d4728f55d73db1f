import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: ['@spendguard/core', 'prom-client', 'zod'],
  removeNodeProtocol: false,
});
