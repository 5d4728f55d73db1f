import { expect, it } from 'vitest';
import { CALLING_AGENT_GUARDRAIL, callingAgentOf } from './calling-agent.ts';

const details = (callId: string) => ({ toolCall: { type: 'function_call', callId } });

it('notes the agent of each call per run context, and always allows', async () => {
  const runA = {};
  const runB = {};
  const triage = { name: 'Triage' };
  const billing = { name: 'Billing' };
  await expect(
    CALLING_AGENT_GUARDRAIL.run({ context: runA, agent: triage, toolCall: details('call_1').toolCall }),
  ).resolves.toEqual({ behavior: { type: 'allow' } });
  await CALLING_AGENT_GUARDRAIL.run({ context: runB, agent: billing, toolCall: details('call_1').toolCall });
  expect(callingAgentOf(runA, details('call_1'))).toEqual({ agent: triage, name: 'Triage' });
  expect(callingAgentOf(runB, details('call_1'))).toEqual({ agent: billing, name: 'Billing' });
  expect(callingAgentOf(runA, details('call_2'))).toBeUndefined();
  expect(callingAgentOf({}, details('call_1'))).toBeUndefined();
});

it('notes nothing it cannot key, and bounds an odd agent name', async () => {
  const run = {};
  await CALLING_AGENT_GUARDRAIL.run({ context: run, agent: 'not an agent', toolCall: details('c').toolCall });
  await CALLING_AGENT_GUARDRAIL.run({ context: run, agent: { name: 'x' }, toolCall: { callId: 7 } });
  expect(callingAgentOf(run, details('c'))).toBeUndefined();
  await CALLING_AGENT_GUARDRAIL.run({
    context: run,
    agent: { name: 'evil\nname' },
    toolCall: details('d').toolCall,
  });
  expect(callingAgentOf(run, details('d'))?.name).toMatch(/^sha256:[0-9a-f]{32}$/);
});
