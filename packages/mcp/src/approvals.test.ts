/**
 * Approvals through MCP's own elicitation: the `approvals` policy wants a person's yes above $100.
 * A client that declares elicitation is asked (what, how much, to whom) and the call runs once on
 * accept; on decline the model reads why. A client without elicitation is refused with the
 * approval id, which an operator approves (here: the guard on the same store, as the CLI does);
 * then a retry runs it. A late answer moves no money for a call the client gave up on.
 */
import type { ElicitRequest, ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Connected, startWorld, textOf, type World } from './test-world.ts';
import { REFUSAL_META_KEY } from './tool-result.ts';

const CLIENT = 'approvals-test';
let world: World;
let asking: Connected;
let plain: Connected;
let direct: Connected;
let forms: string[] = [];
/** How the asking client answers the next form. */
let answer: (request: ElicitRequest) => Promise<ElicitResult>;

beforeAll(async () => {
  world = await startWorld('approvals');
  const key = await world.issueKey('approvals');
  [asking, plain, direct] = await Promise.all([
    world.gateway(key.token, {
      name: CLIENT,
      elicit: (request) => {
        forms.push(String(request.params.message));
        return answer(request);
      },
    }),
    world.gateway(key.token, { name: 'no-forms-client' }),
    world.direct(),
  ]);
});
afterAll(() => world?.close());
beforeEach(() => {
  forms = [];
});

const refund = (client: Connected, args: Record<string, unknown>, timeout = 15_000) =>
  client.client.callTool({ name: 'create_refund', arguments: args }, undefined, { timeout });
const refusalOf = (result: unknown) =>
  (result as { _meta?: Record<string, { code: string; approvalId?: string }> })._meta?.[REFUSAL_META_KEY];
const approvalIdIn = (text: string) => /apr_[0-9a-f]{24}/.exec(text)?.[0] as string;

it('without the gateway: a $150 refund goes through and nobody is asked', async () => {
  const pi = await world.paymentIntent(30_000);
  await refund(direct, { payment_intent: pi, amount: 15_000 });
  expect(world.refundsOf(pi)).toHaveLength(1);
});

describe('a client with elicitation', () => {
  it('asks what, how much and to whom; on accept the refund runs once', async () => {
    const pi = await world.paymentIntent(30_000);
    answer = async () => ({ action: 'accept', content: { approve: true } });
    const result = await refund(asking, { payment_intent: pi, amount: 15_000 });
    expect(result.isError).toBeFalsy();
    expect(forms).toHaveLength(1);
    expect(forms[0]).toContain('approve a Stripe refund of $150.00');
    expect(forms[0]).toContain(`payment_intent ${pi}`);
    expect(forms[0]).toContain(`Requested by ${CLIENT} through the tool create_refund`);
    const approval = await world.guard.approvals.get(approvalIdIn(forms[0] as string));
    expect(approval).toMatchObject({ state: 'approved', decidedBy: `${CLIENT} (MCP elicitation)` });
    // The same call again is the same refund: replayed, not asked again, not made again.
    const again = await refund(asking, { payment_intent: pi, amount: 15_000 });
    expect(textOf(again)).toBe(textOf(result));
    expect(forms).toHaveLength(1);
    expect(world.refundsOf(pi)).toHaveLength(1);
  });

  it('on decline refuses it, and the model reads why and that retrying will not help', async () => {
    const pi = await world.paymentIntent(30_000);
    answer = async () => ({ action: 'decline' });
    const result = await refund(asking, { payment_intent: pi, amount: 12_000 });
    expect(result.isError).toBe(true);
    expect(refusalOf(result)?.code).toBe('approval_denied');
    expect(textOf(result)).toContain(`the user declined it when asked in ${CLIENT}`);
    expect(textOf(result)).toContain('Retrying will not help');
    // Asked once: the person's no stands for this call.
    const again = await refund(asking, { payment_intent: pi, amount: 12_000 });
    expect(refusalOf(again)?.code).toBe('approval_denied');
    expect(forms).toHaveLength(1);
    expect(world.refundsOf(pi)).toHaveLength(0);
    const rows = await world.guard.audit.list({ code: 'approval_denied' });
    expect(rows.some((r) => r.message?.includes('declined'))).toBe(true);
  });

  it('takes an accepted form without the box ticked as a no', async () => {
    const pi = await world.paymentIntent(30_000);
    answer = async () => ({ action: 'accept', content: { approve: false } });
    expect(refusalOf(await refund(asking, { payment_intent: pi, amount: 11_000 }))?.code).toBe(
      'approval_denied',
    );
    expect(world.refundsOf(pi)).toHaveLength(0);
  });

  it('leaves a dismissed form pending, for an operator', async () => {
    const pi = await world.paymentIntent(30_000);
    answer = async () => ({ action: 'cancel' });
    const result = await refund(asking, { payment_intent: pi, amount: 10_500 });
    expect(refusalOf(result)?.code).toBe('approval_required');
    expect((await world.guard.approvals.get(refusalOf(result)?.approvalId as string))?.state).toBe('pending');
  });

  it('moves no money on a late answer for a call the client gave up on; its retry runs once', async () => {
    const pi = await world.paymentIntent(30_000);
    let answered = false;
    answer = async () => {
      await new Promise((resolve) => setTimeout(resolve, 700));
      answered = true;
      return { action: 'accept', content: { approve: true } };
    };
    await expect(refund(asking, { payment_intent: pi, amount: 14_000 }, 300)).rejects.toMatchObject({
      code: ErrorCode.RequestTimeout,
    });
    for (let i = 0; i < 100 && !answered; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const id = approvalIdIn(forms[0] as string);
    for (let i = 0; i < 100 && (await world.guard.approvals.get(id))?.state !== 'approved'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // The yes is recorded, but the call it answered was dead: nothing was refunded.
    expect((await world.guard.approvals.get(id))?.state).toBe('approved');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(world.refundsOf(pi)).toHaveLength(0);
    const retry = await refund(asking, { payment_intent: pi, amount: 14_000 });
    expect(retry.isError).toBeFalsy();
    expect(forms).toHaveLength(1);
    expect(world.refundsOf(pi)).toHaveLength(1);
  });
});

describe('a client without elicitation', () => {
  it('is refused naming the approval id; once an operator approves it, the retry runs it once', async () => {
    const pi = await world.paymentIntent(30_000);
    const first = await refund(plain, { payment_intent: pi, amount: 16_000 });
    expect(first.isError).toBe(true);
    const refusal = refusalOf(first);
    expect(refusal?.code).toBe('approval_required');
    expect(textOf(first)).toContain(`approval ${refusal?.approvalId}`);
    expect(textOf(first)).toContain('spendguard CLI');
    expect(world.refundsOf(pi)).toHaveLength(0);
    await world.guard.approvals.approve(refusal?.approvalId as string, { by: 'ops@example.test' });
    const retry = await refund(plain, { payment_intent: pi, amount: 16_000 });
    expect(retry.isError).toBeFalsy();
    const again = await refund(plain, { payment_intent: pi, amount: 16_000 });
    expect(textOf(again)).toBe(textOf(retry));
    expect(world.refundsOf(pi)).toHaveLength(1);
  });

  it('runs a call under the threshold without asking anyone', async () => {
    const pi = await world.paymentIntent(30_000);
    expect((await refund(plain, { payment_intent: pi, amount: 5_000 })).isError).toBeFalsy();
    expect(world.refundsOf(pi)).toHaveLength(1);
  });
});
