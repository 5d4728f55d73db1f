/** The AI SDK billing agent example: its rows for `pnpm demo`. */
export { runAiSdkDemoRows } from './demo-rows.ts';
