import { interrupt } from '@langchain/langgraph';
import {
  type ActionRequest,
  type ApprovalDecision,
  approvalDecisions,
  approvalInterrupt,
} from './approval-request.ts';

/** One task execution's approvals: which of its calls need one, and the reviewer's answer. */
interface TaskAsks {
  plan: Promise<ActionRequest[]>;
  answer?: Promise<ApprovalDecision[]>;
}

/**
 * Asks a human about the calls of one LangGraph task that need approval, with ONE `interrupt()`
 * per task execution. LangGraph matches resume values to `interrupt()` calls by their order within
 * a task, and a `ToolNode` runs all calls of a message in one task, concurrently: calls asking one
 * by one could ask in another order on resume and take each other's answers. So the task's calls
 * agree on one plan (the calls needing approval, in the model's order), the first to get there
 * raises it, and each takes the decision at its own position. (`createAgent` runs each call as its
 * own task: a plan of one.)
 */
export class ApprovalAsks {
  readonly #tasks = new WeakMap<object, TaskAsks>();

  /**
   * The reviewer's decision for this call, undefined when it needs no approval. `task` is the
   * task execution's own object (`config.executionInfo`); `plan` computes the task's plan (the
   * first call of the task to get here runs it). Throws LangGraph's `GraphInterrupt` until answered.
   */
  async decisionFor(
    task: object | undefined,
    toolCallId: string,
    plan: () => Promise<ActionRequest[]>,
  ): Promise<ApprovalDecision | undefined> {
    const asks = this.#asksOf(task, plan);
    const asked = await asks.plan;
    const position = asked.findIndex((a) => a.toolCallId === toolCallId);
    if (position < 0) return undefined;
    asks.answer ??= Promise.resolve().then(() => ask(asked));
    return (await asks.answer)[position];
  }

  #asksOf(task: object | undefined, plan: () => Promise<ActionRequest[]>): TaskAsks {
    if (!task) return { plan: plan() };
    let asks = this.#tasks.get(task);
    if (!asks) {
      asks = { plan: plan() };
      this.#tasks.set(task, asks);
    }
    return asks;
  }
}

/** Raise the interrupt until the answer fits the question (a malformed answer runs nothing). */
function ask(asked: ActionRequest[]): ApprovalDecision[] {
  const question = approvalInterrupt(asked);
  for (;;) {
    const decisions = approvalDecisions(interrupt(question), asked.length);
    if (decisions) return decisions;
  }
}
