import { resolve } from 'node:path';
import { CliError } from '../cli-error.ts';
import { createOutput } from '../output.ts';

/** Validate a policy file; print each policy as the guard resolves it. Exit 1 naming each problem. */
export default async function check(file: string, options: { json?: boolean }) {
  const out = createOutput(options.json === true);
  const { loadPolicyFile, PolicyError, resolvePolicy } = await import('@spendguard/core');
  let document: ReturnType<typeof loadPolicyFile>;
  try {
    document = loadPolicyFile(resolve(file));
  } catch (error) {
    if (PolicyError.isInstance(error)) {
      const issues = error.issues.map(
        (i) => `  ${i.line !== undefined ? `line ${i.line}: ` : ''}${i.path}: ${i.message}`,
      );
      out.result({ ok: false, file, issues: error.issues }, () =>
        out.line(`${file} is not a valid policy:\n${issues.join('\n')}`),
      );
      throw new CliError(`${file}: ${error.issues.length} problem(s)`, { code: 'policy_invalid' });
    }
    throw new CliError((error as Error).message, { code: 'policy_invalid' });
  }
  const policies = Object.fromEntries(
    Object.entries(document.policies).map(([name, input]) => [name, resolvePolicy(name, input)]),
  );
  out.result({ ok: true, file, policies }, () => {
    out.line(`${file}: ${Object.keys(policies).length} policies, valid`);
    for (const [name, policy] of Object.entries(policies)) {
      out.line(`\n${name}`);
      out.line(JSON.stringify(policy, null, 2).replace(/^/gm, '  '));
    }
  });
}
