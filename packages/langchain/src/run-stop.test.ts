import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { GraphDrained, RunControl } from '@langchain/langgraph';
import { RunKeys, RunStoppedError } from '@spendguard/core';
import { BillingWorld } from '@spendguard/testkit/adapters';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { refusalMessage, refusalOf } from './refusal-message.ts';
import { runCanAct, runStopOf, stopRun } from './run-stop.ts';

const world = new BillingWorld();
beforeAll(() => world.start());
afterAll(() => world.stop());
beforeEach(() => world.reset());

const stopped = (stop: boolean, code = 'key_revoked') =>
  refusalMessage(
    { refused: true, code, reason: 'the vault key was revoked', advice: 'Retrying will not help.' },
    { toolCallId: 'call_1', name: 'charge', runId: 'thread-1', stopped: stop },
  );

describe('stopRun', () => {
  it("aborts the caller's controller with the error, and asks LangGraph to drain naming spendguard's code", () => {
    const error = new RunStoppedError('the vault key was revoked', { code: 'key_revoked' });
    const abortController = new AbortController();
    const control = new RunControl();
    stopRun(error, { control }, { abortController, drain: true });
    expect(abortController.signal.reason).toBe(error);
    expect(control.drainReason).toBe('spendguard key_revoked: the vault key was revoked');
    const quiet = new RunControl();
    stopRun(error, { control: quiet }, { drain: false });
    expect(quiet.drainRequested).toBe(false);
  });
});

describe('runStopOf', () => {
  it('reads the stop from a RunStoppedError, a GraphDrained spendguard asked for, or the stopped state', () => {
    const error = new RunStoppedError('revoked', { code: 'key_revoked' });
    expect(runStopOf(error)).toBe(error);
    const drained = runStopOf(new GraphDrained('spendguard key_expired: the vault key expired\nat noon'));
    expect(RunStoppedError.isInstance(drained)).toBe(true);
    expect(drained).toMatchObject({ code: 'key_expired', message: 'the vault key expired\nat noon' });
    expect(runStopOf(new GraphDrained('sigterm'))).toBeUndefined();

    const ai = new AIMessage({ content: '', tool_calls: [{ id: 'call_1', name: 'charge', args: {} }] });
    const state = { messages: [new HumanMessage('go'), ai, stopped(true)] };
    expect(runStopOf(state)).toMatchObject({ code: 'key_revoked', message: 'the vault key was revoked' });
    // Also after the user asked again on the stopped thread.
    expect(runStopOf([...state.messages, new HumanMessage('again?')])?.code).toBe('key_revoked');
    // Not stopped: a plain refusal, or a stop the model has answered since.
    expect(runStopOf({ messages: [ai, stopped(false)] })).toBeUndefined();
    expect(runStopOf({ messages: [ai, stopped(true), new AIMessage('ok')] })).toBeUndefined();
    expect(
      runStopOf({ messages: [ai, new ToolMessage({ content: 'x', tool_call_id: 'call_1' })] }),
    ).toBeUndefined();
    for (const other of [undefined, null, 'x', new Error('x'), { messages: 'x' }])
      expect(runStopOf(other)).toBeUndefined();
  });

  it('never throws on what invoke or a checkpoint may hold, and reads a stop only from spendguard (property)', () => {
    // Messages the model or a tool wrote (any content, any artifact), and anything else.
    const shaped = fc.record({
      spendguard: fc.record(
        {
          refused: fc.oneof(fc.constant(true), fc.anything()),
          code: fc.oneof(fc.constantFrom('key_revoked', 'key_invalid', 'cap_exceeded'), fc.anything()),
          reason: fc.oneof(fc.string(), fc.anything()),
          advice: fc.string(),
          runId: fc.oneof(fc.string(), fc.anything()),
          stopped: fc.oneof(fc.boolean(), fc.anything()),
        },
        { requiredKeys: [] },
      ),
    });
    const message = fc.oneof(
      fc.boolean().map((stop) => stopped(stop)),
      fc
        .record({ content: fc.string(), artifact: fc.oneof(shaped, fc.anything()) })
        .map(
          ({ content, artifact }) =>
            new ToolMessage({ content, tool_call_id: 'call_1', status: 'error', artifact }),
        ),
      fc.string().map((content) => new AIMessage(content)),
      fc.anything(),
    );
    const value = fc.oneof(
      fc.record({ messages: fc.array(message, { maxLength: 4 }) }),
      fc.array(message, { maxLength: 4 }),
      fc
        .tuple(fc.constantFrom('', 'spendguard key_revoked: ', 'spendguard cap: '), fc.string())
        .map(([prefix, reason]) => new GraphDrained(prefix + reason)),
      fc.anything({ withNullPrototype: true }),
    );
    fc.assert(
      fc.property(value, (v) => {
        const stop = runStopOf(v);
        if (stop === undefined) return;
        expect(RunStoppedError.isInstance(stop)).toBe(true);
        expect(['key_revoked', 'key_expired', 'key_invalid']).toContain(stop.code);
        // Only a drain spendguard asked for, or a message spendguard's refusal shape marks stopped.
        if (!(v instanceof GraphDrained)) {
          const messages = Array.isArray(v) ? v : (v as { messages: unknown[] }).messages;
          expect(messages.some((m) => refusalOf(m)?.stopped === true)).toBe(true);
        } else expect(String(v.reason)).toMatch(/^spendguard key_/);
      }),
      { numRuns: 500 },
    );
  });
});

describe('runCanAct', () => {
  it('is true for a live run, false once its key or the root is revoked, and issues nothing to find out', async () => {
    const runKeys = new RunKeys({ guard: world.guard, key: world.rootToken });
    expect(await runCanAct(world.guard, runKeys, 'run-a')).toBe(true);
    expect(await runCanAct(world.guard, runKeys, 'run-b')).toBe(true);
    const audit = await world.guard.audit.list();
    await world.revokeRun('run-a');
    expect(await runCanAct(world.guard, runKeys, 'run-a')).toBe(false);
    expect(await runCanAct(world.guard, runKeys, 'run-b')).toBe(true);
    // Another process (no cached token) sees it too.
    expect(
      await runCanAct(world.guard, new RunKeys({ guard: world.guard, key: world.rootToken }), 'run-a'),
    ).toBe(false);
    await world.guard.keys.revoke(world.rootId);
    expect(await runCanAct(world.guard, runKeys, 'run-b')).toBe(false);
    expect(await world.guard.audit.list()).toEqual(audit);
  });
});
