/** The OpenAI Agents billing agent example: its rows for `pnpm demo`. */
export { runOpenAiAgentsDemoRows } from './demo-rows.ts';
