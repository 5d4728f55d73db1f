import { type PolicyInput, resolvePolicy } from '@spendguard/core';
import { describe, expect, it } from 'vitest';
import { stripeTool } from './stripe-tools.ts';
import type { ToolShape } from './tool-plan.ts';
import { unmappedTool } from './tool-plan.ts';
import { isToolAllowed } from './tool-visibility.ts';

const policy = (input: PolicyInput) => resolvePolicy('test', input);
const shape = (name: string): ToolShape => (stripeTool(name) ?? unmappedTool(name)).shape;

describe('which tools a policy shows', () => {
  const refunds = policy({
    stripe: { allow: [{ 'POST /v1/refunds': { amount: { max: 5000 } } }, 'GET /v1/charges/*'] },
  });

  it('shows the tools whose operation the policy allows, and free tools, and hides the rest', () => {
    expect(isToolAllowed(shape('create_refund'), refunds)).toBe(true);
    expect(isToolAllowed(shape('search_documentation'), refunds)).toBe(true);
    expect(isToolAllowed(shape('create_payment_link'), refunds)).toBe(false);
    expect(isToolAllowed(shape('cancel_subscription'), refunds)).toBe(false);
    expect(isToolAllowed(shape('list_customers'), refunds)).toBe(false);
  });

  it('matches an endpoint with an id in it against wildcard and literal rules alike', () => {
    expect(
      isToolAllowed(
        shape('finalize_invoice'),
        policy({ stripe: { allow: ['POST /v1/invoices/*/finalize'] } }),
      ),
    ).toBe(true);
    expect(
      isToolAllowed(
        shape('finalize_invoice'),
        policy({ stripe: { allow: ['POST /v1/invoices/in_1/finalize'] } }),
      ),
    ).toBe(true);
    expect(
      isToolAllowed(shape('finalize_invoice'), policy({ stripe: { allow: ['POST /v1/invoices/**'] } })),
    ).toBe(true);
    expect(
      isToolAllowed(shape('finalize_invoice'), policy({ stripe: { allow: ['POST /v1/invoices/*/pay'] } })),
    ).toBe(false);
    expect(
      isToolAllowed(
        shape('finalize_invoice'),
        policy({ stripe: { allow: ['GET /v1/invoices/*/finalize'] } }),
      ),
    ).toBe(false);
  });

  it('shows a generic dispatcher when the policy allows any operation of its kind', () => {
    expect(isToolAllowed(shape('stripe_api_write'), refunds)).toBe(true);
    expect(isToolAllowed(shape('stripe_api_read'), refunds)).toBe(true);
    const readOnly = policy({ stripe: { allow: ['GET /v1/charges/*'] } });
    expect(isToolAllowed(shape('stripe_api_write'), readOnly)).toBe(false);
  });

  it('hides an unmapped tool unless the policy allows it as mcp POST /tools/<name>', () => {
    expect(isToolAllowed(shape('delete_everything'), refunds)).toBe(false);
    const allowing = policy({
      mcp: { allow: ['POST /tools/delete_everything'], costs: { 'POST /tools/delete_everything': 0 } },
    });
    expect(isToolAllowed(shape('delete_everything'), allowing)).toBe(true);
  });
});
