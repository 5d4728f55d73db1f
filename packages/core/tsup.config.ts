import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    stripe: 'src/stripe.ts',
    twilio: 'src/twilio.ts',
    'store-kit': 'src/store-kit.ts',
    'testing/index': 'src/testing/index.ts',
  },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node22',
  external: ['vitest', 'fast-check', 'stripe', 'twilio', '@opentelemetry/api'],
  // node:sqlite exists only under its node: name.
  removeNodeProtocol: false,
});
