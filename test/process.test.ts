// The server as users run it: a child process started by `npm start` or `node server/main.ts`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { tempDir, TEST_JWT_SECRET } from './support/config.ts';
import { REPO_ROOT, startServerProcess } from './support/server-process.ts';

const run = promisify(execFile);

async function waitForHealthy(url: string, deadlineMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > deadlineMs) throw new Error(`/healthz did not answer 200 within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('npm start on the embedded default', () => {
  it('answers /healthz within 10 s on a fresh data directory, and accepts a token from npm run token', async () => {
    const dataDir = tempDir();
    const started = Date.now();
    const server = startServerProcess({ DATA_DIR: dataDir, LOG_LEVEL: 'info' }, ['npm', 'start', '--silent']);
    try {
      const port = await server.listening;
      const url = `http://127.0.0.1:${port}`;
      await waitForHealthy(url, 10_000 - (Date.now() - started));
      console.log(`npm start: /healthz answered 200 ${Date.now() - started} ms after spawn`);

      const ready = (await (await fetch(`${url}/readyz`)).json()) as { checks: Record<string, { ok: boolean }> };
      expect(ready.checks).toEqual({ database: expect.objectContaining({ ok: true }) });

      const { stdout } = await run('npm', ['run', '--silent', 'token', '--', '--tenant', 'acme', '--user', 'alice', '--role', 'owner'], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: dataDir },
      });
      const me = await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${stdout.trim()}` } });
      expect(me.status).toBe(200);
      expect(await me.json()).toEqual({ principal: { userId: 'alice', tenantId: 'acme', role: 'owner' } });
    } finally {
      server.signal('SIGTERM');
      await server.exited;
    }
  });
});

describe('start-up with a bad configuration', () => {
  const startAndWait = async (env: Record<string, string>) => {
    const server = startServerProcess({ DATA_DIR: tempDir(), ...env });
    const { code } = await server.exited;
    return { code, stderr: server.stderr() };
  };

  it('exits non-zero naming DATABASE_URL when it is not a PostgreSQL URL', async () => {
    const { code, stderr } = await startAndWait({ DATABASE_URL: 'mysql://root@db/onboarding' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/DATABASE_URL: must be a URL like postgres:/);
  });

  it('exits non-zero naming LOG_LEVEL when the level is unknown', async () => {
    const { code, stderr } = await startAndWait({ LOG_LEVEL: 'loud' });
    expect(code).toBe(78);
    expect(stderr).toMatch(/LOG_LEVEL: /);
  });

  it('exits non-zero naming DATABASE_URL, without its password, when the database is unreachable', async () => {
    const { code, stderr } = await startAndWait({ DATABASE_URL: 'postgres://app:hunter2@127.0.0.1:1/onboarding' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot open the database \(DATABASE_URL=postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/onboarding\)/);
    expect(stderr).not.toContain('hunter2');
  });
});

describe('graceful shutdown', () => {
  it('exits 0 on SIGTERM during load, logging no error and failing no accepted request', async () => {
    const server = startServerProcess({ DATA_DIR: tempDir(), JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info' });
    const url = `http://127.0.0.1:${await server.listening}`;
    const statuses = new Map<number, number>();
    let refused = 0;
    let stop = false;
    // Eight clients hammer the server until it is gone; bounded by the 5 s deadline below.
    const deadline = Date.now() + 5_000;
    const client = async () => {
      while (!stop && Date.now() < deadline) {
        try {
          const response = await fetch(`${url}/readyz`);
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        } catch {
          refused += 1; // connection refused or closed: the server stopped accepting
          if (server.child.exitCode !== null) return;
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const answeredBeforeSignal = [...statuses.values()].reduce((a, b) => a + b, 0);
    server.signal('SIGTERM');
    const { code } = await server.exited;
    stop = true;
    await Promise.all(clients);

    expect(answeredBeforeSignal).toBeGreaterThan(50);
    expect(code).toBe(0);
    // 200 while running, 503 from /readyz while draining: nothing else, no 5xx from a failure.
    expect([...statuses.keys()].filter((status) => status !== 200 && status !== 503)).toEqual([]);
    expect(server.logs.filter((line) => line.level >= 50)).toEqual([]);
    expect(server.logs.map((line) => line.msg)).toEqual(expect.arrayContaining(['signal received', 'shut down']));
    expect(server.stderr()).toBe('');
    console.log(`SIGTERM under load: ${answeredBeforeSignal} requests before the signal, ${refused} refused after; exit ${code}`);
  });
});
