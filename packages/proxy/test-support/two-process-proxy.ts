/**
 * One proxy process of the two-process test: `serveProxy` over a RedisStore that the other proxy
 * process and the test share, with the fake Stripe as the Stripe upstream. Started with its
 * config as a JSON argument; it talks over the IPC channel:
 *
 * - sends `{ type: 'listening', url }` once it accepts connections;
 * - on `{ type: 'revoke', keyId }` revokes the key with this process's own guard and sends
 *   `{ type: 'revoked', revoked }`, so a revocation can start in one proxy process;
 * - on `{ type: 'exit' }` closes the server and the guard, then disconnects (and so exits).
 */
import { createGuard, type PolicyDocument } from '@spendguard/core';
import { RedisStore } from '@spendguard/redis';
import { serveProxy } from '../src/index.ts';

export interface TwoProcessProxyConfig {
  redisUrl: string;
  prefix: string;
  policies: PolicyDocument;
  /** Origin of the fake Stripe. */
  stripeUpstream: string;
}

export type ToProxyProcess = { type: 'revoke'; keyId: string } | { type: 'exit' };
export type FromProxyProcess = { type: 'listening'; url: string } | { type: 'revoked'; revoked: boolean };

const config = JSON.parse(process.argv[2] as string) as TwoProcessProxyConfig;
const guard = createGuard({
  policies: config.policies,
  store: new RedisStore({ url: config.redisUrl, prefix: config.prefix }),
});
const server = await serveProxy({
  guard,
  upstreams: { stripe: config.stripeUpstream },
  host: '127.0.0.1',
  port: 0,
});

function send(message: FromProxyProcess): void {
  process.send?.(message);
}

send({ type: 'listening', url: server.url });
process.on('message', async (message: ToProxyProcess) => {
  if (message.type === 'revoke') {
    send({ type: 'revoked', revoked: await guard.keys.revoke(message.keyId) });
  } else {
    await server.close();
    await guard.close();
    process.disconnect();
  }
});
