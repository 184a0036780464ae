// Runs the real server entry point (`server/main.ts`) as a child process, the way users run it.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { tempDir, TEST_ENCRYPTION_KEYS, TEST_JWT_SECRET } from './config.ts';
import { createTestDatabase } from './isolation.ts';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export type LogLine = { level: number; msg: string; [key: string]: unknown };

export type ServerProcess = {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: LogLine[];
  stderr(): string;
  /** Resolves with the port from the "server listening" log line. */
  listening: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals the whole process group: `npm start` runs the server under npm and a shell. */
  signal(signal: NodeJS.Signals): void;
};

/**
 * Starts the server with exactly `env` on top of PATH/HOME (no inherited configuration), PORT=0
 * unless given. `command` defaults to this Node running server/main.ts; pass ['npm', 'start'] to go
 * through the package script.
 */
export function startServerProcess(env: Record<string, string>, command?: [string, ...string[]]): ServerProcess {
  const [file, ...args] = command ?? [process.execPath, 'server/main.ts'];
  const child = spawn(file, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const logs: LogLine[] = [];
  let stderr = '';
  let resolvePort: (port: number) => void = () => {};
  let rejectPort: (error: Error) => void = () => {};
  const listening = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectPort = reject;
  });
  // A server that is expected to fail at start-up never listens: nobody awaits this then.
  listening.catch(() => {});
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as LogLine;
      logs.push(entry);
      if (entry.msg === 'server listening') resolvePort(entry.port as number);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      rejectPort(new Error(`server exited (${code ?? signal}) before listening:\n${stderr}`));
      resolve({ code, signal });
    }),
  );
  const signal = (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, name);
    } catch {
      // the group is already gone
    }
  };
  return { child, logs, stderr: () => stderr, listening, exited, signal };
}

/**
 * The environment of a server process on `dialect`: its own data dir and, on PostgreSQL, its own
 * database (drop it with `drop()`).
 */
export async function serverProcessEnv(
  dialect: 'sqlite' | 'postgresql',
  extra: Record<string, string> = {},
): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  const env: Record<string, string> = { DATA_DIR: tempDir(), JWT_SECRET: TEST_JWT_SECRET, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, LOG_LEVEL: 'info', ...extra };
  const database = dialect === 'postgresql' ? await createTestDatabase() : undefined;
  if (database) env.DATABASE_URL = database.url;
  return { env, drop: async () => database?.drop() };
}
