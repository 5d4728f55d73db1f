/** The LangChain / LangGraph billing agent example: its rows for `pnpm demo`. */
export { runLangChainDemoRows } from './demo-rows.ts';
