import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', bin: 'src/bin.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: ['@spendguard/core', '@spendguard/proxy', '@modelcontextprotocol/sdk', 'zod'],
  removeNodeProtocol: false,
});
