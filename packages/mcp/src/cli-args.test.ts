import { describe, expect, it } from 'vitest';
import { parseGatewayArgs } from './cli-args.ts';
import { GatewayOptionsError } from './errors.ts';

describe('spendguard-mcp arguments', () => {
  it('takes everything after -- as the upstream command, untouched', () => {
    const parsed = parseGatewayArgs([
      '--config',
      'sg.yaml',
      '--',
      'npx',
      '-y',
      '@stripe/mcp',
      '--config',
      'x',
    ]);
    expect(parsed).toEqual({
      help: false,
      options: {
        config: 'sg.yaml',
        upstream: { command: 'npx', args: ['-y', '@stripe/mcp', '--config', 'x'] },
      },
    });
  });

  it('reads every option', () => {
    const parsed = parseGatewayArgs([
      '--store',
      'sqlite:/tmp/x.db',
      '--builtin',
      'none',
      '--upstream-url',
      'https://mcp.example.test/mcp',
      '--credential',
      'acme',
      '--credential-env',
      'ACME_KEY',
      '--pass-env',
      'HOME',
      '--pass-env',
      'LANG',
      '--http',
      '8787',
      '--key-env',
      'MY_KEY',
      '--run-id',
      'run-1',
      '--stripe-api',
      'http://127.0.0.1:9999/ignored',
      '--no-elicitation',
    ]);
    expect(parsed).toEqual({
      help: false,
      options: {
        store: 'sqlite:/tmp/x.db',
        builtIn: 'none',
        upstream: { url: 'https://mcp.example.test/mcp' },
        credential: 'acme',
        credentialEnv: 'ACME_KEY',
        passEnv: ['HOME', 'LANG'],
        http: { port: 8787 },
        keyEnv: 'MY_KEY',
        gateway: { runId: 'run-1', lookupOrigins: { stripe: 'http://127.0.0.1:9999' }, elicitation: false },
      },
    });
  });

  it('answers --help', () => {
    expect(parseGatewayArgs(['-h'])).toEqual({ help: true });
  });

  it.each([
    [[], 'no upstream MCP server'],
    [['--upstream-url', 'https://x.test', '--', 'npx'], 'not both'],
    [['--http', 'eighty', '--', 'npx'], '--http must be a port number'],
    [['--builtin', 'twilio', '--', 'npx'], '--builtin must be stripe or none'],
    [['--bogus', '--', 'npx'], "Unknown option '--bogus'"],
    // The tool map is the policy's mcp: section now, not a file of its own.
    [['--tools', 'tools.json', '--', 'npx'], "Unknown option '--tools'"],
    [['--stripe-api', 'not a url', '--', 'npx'], '--stripe-api must be a URL'],
  ])('refuses %j', (argv, message) => {
    try {
      parseGatewayArgs(argv);
      expect.unreachable('should be refused');
    } catch (error) {
      expect(GatewayOptionsError.isInstance(error)).toBe(true);
      expect((error as Error).message).toContain(message);
    }
  });
});
