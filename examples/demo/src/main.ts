/**
 * `pnpm demo`: the same agent-like workloads without and with spendguard, against fake Stripe
 * and Twilio servers on loopback, with the default SQLite store under .spendguard/.
 * Exits non-zero if the spendguard column shows a duplicate or an overspend.
 */
import { runAiSdkDemoRows } from '@spendguard/ai-sdk-billing-agent';
import { SqliteStore } from '@spendguard/core';
import { runLangChainDemoRows } from '@spendguard/langchain-billing-agent';
import { runMastraDemoRows } from '@spendguard/mastra-billing-agent';
import { runOpenAiAgentsDemoRows } from '@spendguard/openai-agents-billing-agent';
import type { DemoRow } from '@spendguard/testkit/adapters';
import { renderAudit, renderTable } from './render.ts';
import { runDemo, violations } from './scenarios.ts';

const started = performance.now();
console.log('spendguard demo: each workload runs without, then with spendguard\n');
const progress = (r: DemoRow) => console.log(`  ${r.id} done: ${r.title}`);
const results: DemoRow[] = await runDemo({ onScenario: progress });
// The same failure modes through each framework's real loop, driven by its own offline mock model.
const store = new SqliteStore();
try {
  for (const rows of [runAiSdkDemoRows, runLangChainDemoRows, runOpenAiAgentsDemoRows, runMastraDemoRows]) {
    results.push(...(await rows({ store, onRow: progress })));
  }
} finally {
  await store.close();
}
console.log(`\n${renderTable(results)}`);
const shown = results.find((r) => r.id === 'F5') ?? results[0];
if (shown)
  console.log(`\nAudit rows of ${shown.id} with spendguard (${shown.title}):\n${renderAudit(shown.audit)}`);
const problems = violations(results);
console.log(`\nfinished in ${((performance.now() - started) / 1000).toFixed(1)} s`);
if (problems.length > 0) {
  console.error(
    `\nFAILED: the spendguard column shows a duplicate or an overspend:\n  ${problems.join('\n  ')}`,
  );
  process.exitCode = 1;
} else {
  console.log('spendguard column: 0 duplicates, 0 overspend');
}
