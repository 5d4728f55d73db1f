/**
 * The sentences the MCP gateway adds to core's (core's model-sentences.ts has the rest), in one
 * place so they are reviewed together. A refusal reaches the model as an `isError` tool result
 * whose text is core's reason and advice, plus these where they apply.
 */

/** After a refusal that waits for a person: who can approve it and what happens then. */
export function approveFromOperator(approvalId: string): string {
  return `An operator can approve it (approval ${approvalId}) with the spendguard CLI or admin API; once it is approved, calling this tool again with the same arguments runs it once.`;
}

/** Why a call with a vault key in its arguments is refused. */
export const VAULT_KEY_IN_ARGUMENTS =
  "the tool's arguments carry a spendguard vault key; a vault key is never sent on to a vendor";

/** The reason recorded when the user declines an approval form. */
export function declinedBy(client: string): string {
  return `the user declined it when asked in ${client}`;
}

/** The title and message of the approval form (elicitation) a user answers. */
export function approvalQuestion(details: {
  what: string;
  amount: string;
  whom: string | undefined;
  tool: string;
  client: string;
  approvalId: string;
}): string {
  const lines = [
    `spendguard: approve ${details.what} of ${details.amount}${details.whom ? ` — ${details.whom}` : ''}?`,
    `Requested by ${details.client} through the tool ${details.tool}. Approval ${details.approvalId}.`,
    'It runs once if you approve; nothing happens if you decline.',
  ];
  return lines.join('\n');
}

/** The form field a user ticks to approve: an explicit yes, so an empty accept approves nothing. */
export const APPROVE_FIELD = {
  type: 'boolean',
  title: 'Approve this call',
  description: 'Tick to let the call run once.',
  default: false,
} as const;
