import { describe, expect, it } from 'vitest';
import { carriesVaultToken, vaultTokenOf } from './vault-key.ts';

const TOKEN = `sk_sg_${'0a'.repeat(32)}`;
const basic = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`;

describe('vaultTokenOf', () => {
  it('reads a Bearer token, a Basic password, or a Basic user with an empty password', () => {
    expect(vaultTokenOf(`Bearer ${TOKEN}`)).toBe(TOKEN);
    expect(vaultTokenOf(`bearer  ${TOKEN} `)).toBe(TOKEN);
    expect(vaultTokenOf(basic(`AC123:${TOKEN}`))).toBe(TOKEN);
    expect(vaultTokenOf(basic(`${TOKEN}:`))).toBe(TOKEN);
  });

  it('finds no vault key in anything else, a real vendor secret included', () => {
    for (const header of [
      null,
      '',
      'Bearer sk_live_51HxRealStripeKey',
      'Bearer sk_sg_',
      `Bearer ${TOKEN}%00`,
      `Bearer sk_sg_${'a'.repeat(300)}`,
      `Token ${TOKEN}`,
      basic('AC123:twilio_auth_token'),
      basic(TOKEN), // no colon: not a Basic pair
      'Basic !!!',
    ]) {
      expect(vaultTokenOf(header), String(header)).toBeUndefined();
    }
  });
});

describe('carriesVaultToken', () => {
  const url = (path: string) => new URL(`http://proxy.test${path}`);
  const auth = new Headers({ authorization: `Bearer ${TOKEN}` });

  it('is false for a request whose only vault key is its Authorization', () => {
    expect(carriesVaultToken(url('/v1/charges?expand[]=x'), auth, Buffer.from('amount=5'))).toBe(false);
  });

  it('finds a vault key in the path, query, another header or the body', () => {
    expect(carriesVaultToken(url(`/v1/customers/${TOKEN}`), auth, undefined)).toBe(true);
    expect(carriesVaultToken(url(`/v1/charges?q=${TOKEN}`), auth, undefined)).toBe(true);
    expect(carriesVaultToken(url('/v1/charges'), new Headers({ 'x-note': TOKEN }), undefined)).toBe(true);
    expect(carriesVaultToken(url('/v1/charges'), auth, Buffer.from(`metadata[key]=${TOKEN}`))).toBe(true);
  });
});
