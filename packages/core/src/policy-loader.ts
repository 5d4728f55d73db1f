import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { PolicyError } from './errors.ts';
import { type PolicyDocument, policyDocumentSchema } from './policy.ts';

/** The largest policy file or text accepted: 1 MiB, far beyond any real policy. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * How far YAML aliases may expand (yaml's `maxAliasCount`). An alias shares its anchor's object,
 * but the schema check walks every reference, so a "billion laughs" document is refused here.
 */
const MAX_ALIAS_COUNT = 100;

/**
 * Read a policy document from a YAML or JSON file (JSON is YAML, so one parser serves both).
 * A bad file fails with a PolicyError naming the file, the path in the document, the line, and
 * what is wrong there.
 */
export function loadPolicyFile(file: string): PolicyDocument {
  return parsePolicyText(readPolicyFile(file), file);
}

/** The file's text, read only up to MAX_POLICY_BYTES. */
function readPolicyFile(file: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const { size } = fstatSync(fd);
    if (size > MAX_POLICY_BYTES) throw tooLarge(file, `${size} bytes`);
    // A pipe or a device reports no size, so the read itself stops one byte past the bound.
    const buffer = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    let read: number;
    do {
      read = readSync(fd, buffer, length, buffer.length - length, null);
      length += read;
    } while (read > 0 && length < buffer.length);
    if (length > MAX_POLICY_BYTES) throw tooLarge(file, `more than ${MAX_POLICY_BYTES} bytes`);
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (PolicyError.isInstance(error)) throw error;
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new PolicyError(file, [{ path: '', message: reason }], { cause: error });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function tooLarge(file: string | undefined, size: string): PolicyError {
  return new PolicyError(file, [
    { path: '', message: `the policy is ${size}; the limit is ${MAX_POLICY_BYTES} bytes (1 MiB)` },
  ]);
}

/** Parse policy text (YAML or JSON); `file` only names the source in errors. */
export function parsePolicyText(text: string, file?: string): PolicyDocument {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_POLICY_BYTES) throw tooLarge(file, `${bytes} bytes`);
  const lineCounter = new LineCounter();
  let doc: Document.Parsed;
  let value: unknown;
  try {
    // logLevel 'error': the parser's warnings would otherwise go to process warnings.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
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
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    if (PolicyError.isInstance(error)) throw error;
    // toJS throws on aliases expanding past MAX_ALIAS_COUNT ("Excessive alias count indicates a
    // resource exhaustion attack") and on an alias whose anchor is missing.
    const message = error instanceof Error ? error.message : String(error);
    const limit = /alias count/i.test(message) ? ` (the limit is ${MAX_ALIAS_COUNT} alias expansions)` : '';
    throw new PolicyError(file, [{ path: '', message: `YAML: ${message}${limit}` }], { cause: error });
  }
  return validate(value, file, (path) => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
  });
}

/** Validate a policy document given as a value (already parsed). */
export function parsePolicyDocument(value: unknown, source?: string): PolicyDocument {
  return validate(value, source, () => undefined);
}

function validate(
  value: unknown,
  file: string | undefined,
  lineAt: (path: readonly (string | number)[]) => number | undefined,
): PolicyDocument {
  const result = policyDocumentSchema.safeParse(value);
  if (result.success) return result.data as PolicyDocument;
  throw new PolicyError(
    file,
    problems(result.error.issues, []).map(({ path, message, at }) => {
      const line = lineAt(at) ?? lineAt(path);
      return { path: formatPath(path), message, ...(line ? { line } : {}) };
    }),
  );
}

interface Problem {
  path: (string | number)[];
  message: string;
  /** Where in the document to take the line from. */
  at: (string | number)[];
}

/**
 * zod's issues as the document's problems. A failed union (an allow entry is an operation string
 * or a one-key map) is told by the branch meant for the value's type, with that branch's paths.
 */
function problems(issues: readonly z.core.$ZodIssue[], base: readonly (string | number)[]): Problem[] {
  return issues.flatMap((issue): Problem[] => {
    const path = [...base, ...(issue.path as (string | number)[])];
    switch (issue.code) {
      case 'invalid_union': {
        const typed = issue.errors.filter((branch) => !branch.every(isWrongTypeAtRoot));
        // Of two object shapes, the one that knows every key given is the one meant.
        const knowing = typed.filter((branch) => !branch.some(isUnknownKeyAtRoot));
        const meant = knowing.length > 0 ? knowing : typed;
        if (meant.length === 1) return problems(meant[0] as z.core.$ZodIssue[], path);
        return [{ path, message: issue.message, at: path }];
      }
      case 'invalid_key':
        return [{ path, message: issue.issues[0]?.message ?? issue.message, at: path }];
      case 'unrecognized_keys':
        // The line of the (first) unknown key, not of the object holding it.
        return [{ path, message: issue.message, at: [...path, issue.keys[0] as string] }];
      default:
        return [{ path, message: issue.message, at: path }];
    }
  });
}

function isWrongTypeAtRoot(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'invalid_type' && issue.path.length === 0;
}

function isUnknownKeyAtRoot(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'unrecognized_keys' && issue.path.length === 0;
}

/** `policies.billing-agent.stripe.allow[0]["POST /v1/refunds"].amount` */
function formatPath(path: readonly (string | number)[]): string {
  return path
    .map((p) => {
      if (typeof p === 'number') return `[${p}]`;
      return /^[A-Za-z_$][\w$-]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
    })
    .join('')
    .replace(/^\./, '');
}
