import type { OperationRule, ResolvedPolicy } from '@spendguard/core';
import type { ToolShape } from './tool-plan.ts';

/**
 * Whether a key's policy allows anything a tool could do, so `tools/list` shows it: a free tool
 * always; a one-endpoint tool when an allow rule could match its endpoint with some id in it; a
 * generic dispatcher when any rule of its vendor has one of its methods. A tool listed here may
 * still be refused for its arguments; a tool not listed is refused on `tools/call` as well.
 */
export function isToolAllowed(shape: ToolShape, policy: Pick<ResolvedPolicy, 'rules'>): boolean {
  switch (shape.kind) {
    case 'free':
      return true;
    case 'endpoint':
      return policy.rules.some(
        (rule) =>
          rule.vendor === shape.vendor && rule.method === shape.method && couldMatch(rule, shape.path),
      );
    case 'dispatcher':
      return policy.rules.some((rule) => rule.vendor === shape.vendor && shape.methods.includes(rule.method));
  }
}

const PLACEHOLDER = /^\{[a-z_]+\}$/;

/**
 * Whether a rule's path could match a path template: segment by segment, a `{name}` segment
 * matches any rule segment, `**` matches the rest, and other segments follow the rule's pattern.
 */
function couldMatch(rule: OperationRule, template: string): boolean {
  if (!template.includes('{')) return rule.pattern.test(template);
  const ruleSegments = rule.path.split('/');
  const segments = template.split('/');
  for (let i = 0; i < ruleSegments.length; i++) {
    const wanted = ruleSegments[i] as string;
    if (wanted === '**') return true;
    const segment = segments[i];
    if (segment === undefined) return false;
    if (PLACEHOLDER.test(segment)) continue;
    if (!segmentPattern(wanted).test(segment)) return false;
  }
  return ruleSegments.length === segments.length;
}

function segmentPattern(segment: string): RegExp {
  const escaped = segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+');
  return new RegExp(`^${escaped}$`);
}
