import { readFileSync } from 'node:fs';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { PolicyError } from './errors.ts';
import { type PolicyDocument, policyDocumentSchema } from './policy.ts';

/**
 * Read a policy document from a YAML or JSON file (JSON is YAML, so one parser serves both).
 * A bad file fails with a PolicyError naming the file, the path in the document, the line, and
 * what is wrong there.
 */
export function loadPolicyFile(file: string): PolicyDocument {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new PolicyError(file, [{ path: '', message: reason }], { cause: error });
  }
  return parsePolicyText(text, file);
}

/** Parse policy text (YAML or JSON); `file` only names the source in errors. */
export function parsePolicyText(text: string, file?: string): PolicyDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(
      file,
      doc.errors.map((e) => ({
        path: '',
        message: e.message.split('\n')[0] ?? e.message,
        line: lineCounter.linePos(e.pos[0]).line,
      })),
    );
  }
  const result = policyDocumentSchema.safeParse(doc.toJS());
  if (!result.success) {
    throw new PolicyError(
      file,
      result.error.issues.map((issue) => {
        const node = doc.getIn(issue.path as (string | number)[], true);
        const line = isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
        return { path: formatPath(issue.path), message: describe(issue), ...(line ? { line } : {}) };
      }),
    );
  }
  return result.data as PolicyDocument;
}

/** Validate a policy document given as a value (already parsed). */
export function parsePolicyDocument(value: unknown, source?: string): PolicyDocument {
  const result = policyDocumentSchema.safeParse(value);
  if (!result.success) {
    throw new PolicyError(
      source,
      result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describe(issue) })),
    );
  }
  return result.data as PolicyDocument;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_key') {
    return issue.issues[0]?.message ?? issue.message;
  }
  if (issue.code === 'invalid_union' && issue.path.length > 0) {
    // zod reports every branch; the first branch's first problem is the useful sentence.
    const first = issue.errors[0]?.[0];
    if (first) return first.message;
  }
  return issue.message;
}
