import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig, WorkerReport } from './race-worker.ts';

const WORKER = fileURLToPath(new URL('./race-worker.ts', import.meta.url));

/** Start one worker process per config, release them together, and collect their reports. */
export async function race(configs: WorkerConfig[], timeoutMs = 60_000): Promise<WorkerReport[]> {
  const children: ChildProcess[] = configs.map((config) =>
    spawn(process.execPath, ['--conditions=@spendguard/source', WORKER, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const timer = setTimeout(() => {
    for (const child of children) child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const outputs = children.map((child) => {
      let text = '';
      child.stdout?.setEncoding('utf8');
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: string) => {
          text += chunk;
          if (text.startsWith('ready\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
      });
      const done = once(child, 'exit').then(([code]) => {
        if (code !== 0) throw new Error(`worker exited with ${code}`);
        return JSON.parse(text.slice('ready\n'.length).trim()) as WorkerReport;
      });
      return { ready, done };
    });
    await Promise.all(outputs.map((o) => o.ready));
    for (const child of children) child.stdin?.end('go\n');
    return await Promise.all(outputs.map((o) => o.done));
  } finally {
    clearTimeout(timer);
  }
}
