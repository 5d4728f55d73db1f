import type { MastraModelConfig } from '@mastra/core/llm';
import type { MockLanguageModelV4 } from 'ai/test';

/**
 * The AI SDK's scripted `MockLanguageModelV4` (what a Mastra `Agent` takes as its `model`):
 * `generate()` uses `doGenerate`, `stream()` `doStream`. One implementation, the AI SDK adapter's.
 */
export { promptOf, promptsOf, type ScriptedModel, scriptedModel } from '@spendguard/ai-sdk/testing';

/**
 * The scripted model as an `Agent`'s `model`. Mastra 1.71's types name the V2 and V3 model
 * specifications; it runs a V4 model the same way (checked: `generate()` calls `doGenerate`,
 * `stream()` `doStream`).
 */
export function asAgentModel(model: MockLanguageModelV4): MastraModelConfig {
  return model as unknown as MastraModelConfig;
}
