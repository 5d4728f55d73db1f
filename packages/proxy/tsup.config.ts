import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: ['@spendguard/core', '@spendguard/redis', '@spendguard/postgres', 'undici', 'prom-client'],
  removeNodeProtocol: false,
});
