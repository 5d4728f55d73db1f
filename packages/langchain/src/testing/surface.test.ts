import { describeAdapterBehaviour } from '@spendguard/testkit/adapters';
import { createAgentSurface, langGraphSurface } from './surface.ts';

// The adapter contract's rows F1–F4, F6–F8: a StateGraph with LangGraph's ToolNode and a
// MemorySaver (guardTools), and langchain's createAgent (spendguardMiddleware), fakeModel() each.
describeAdapterBehaviour('langgraph/tool-node', langGraphSurface());
describeAdapterBehaviour('langchain/create-agent', createAgentSurface());
