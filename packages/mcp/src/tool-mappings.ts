import { stripeTool } from './stripe-tools.ts';
import type { ToolMap } from './tool-map.ts';
import { type ToolMapping, unmappedTool } from './tool-plan.ts';

/** Which built-in map reads the upstream's tools: Stripe's, or none (only the tool map). */
export type BuiltInMap = 'stripe' | 'none';

/**
 * The mapping of a tool by name: the tool map's entry first (the operator's word), then the
 * built-in map, else the unmapped tool's (refused unless the policy allows `mcp POST /tools/<name>`).
 */
export function toolMappings(
  builtIn: BuiltInMap,
  toolMap: ToolMap | undefined,
): (name: string) => ToolMapping {
  return (name) => {
    if (toolMap && Object.hasOwn(toolMap, name)) return toolMap[name] as ToolMapping;
    return (builtIn === 'stripe' ? stripeTool(name) : undefined) ?? unmappedTool(name);
  };
}
