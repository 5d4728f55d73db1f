/** The Mastra billing agent example: its rows for `pnpm demo`. */
export { runMastraDemoRows } from './demo-rows.ts';
