// `npm run test:n8n`: the n8n provider tests against a real n8n (opt-in; see docs/TESTING.md).
// 1. Installs n8n (pinned) into .cache/n8n unless it is there: ~2,400 packages, install scripts
//    skipped, then sqlite3 (its database driver, a native addon) rebuilt from source.
// 2. Starts it on a free port with a throwaway user folder (its SQLite database, settings and
//    encryption key live there and are deleted afterwards), listening on 127.0.0.1 only.
// 3. Creates the owner user (POST /rest/owner/setup, allowed once, on an instance without one),
//    which also logs in (the n8n-auth cookie), then an API key for that owner
//    (POST /rest/api-keys with a label, scopes and no expiry; the answer carries `rawApiKey`).
// 4. Runs test/n8n-real.test.n8n.ts with N8N_URL and N8N_API_KEY, then stops n8n.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export const N8N_VERSION = '2.40.7';
const root = path.resolve(import.meta.dirname, '..');
const prefix = path.join(root, '.cache', 'n8n');
const bin = path.join(prefix, 'node_modules', 'n8n', 'bin', 'n8n');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`n8n exited with ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(`${url}/healthz/readiness`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`n8n was not ready within ${timeoutMs} ms`);
}

/** The owner user and an API key for it (see the header). */
async function createApiKey(url: string): Promise<string> {
  const headers = { 'content-type': 'application/json', 'browser-id': 'glavito-test-n8n' };
  const owner = await fetch(`${url}/rest/owner/setup`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ email: 'owner@glavito.test', firstName: 'Glavito', lastName: 'Test', password: 'Glavito-test-1234' }),
  });
  if (!owner.ok) throw new Error(`owner setup answered ${owner.status}: ${await owner.text()}`);
  const cookie = owner.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const scopes = ['workflow:create', 'workflow:read', 'workflow:update', 'workflow:delete', 'workflow:list', 'workflow:activate', 'workflow:deactivate'];
  const created = await fetch(`${url}/rest/api-keys`, {
    method: 'POST',
    headers: { ...headers, cookie },
    body: JSON.stringify({ label: 'glavito-test', expiresAt: null, scopes }),
  });
  if (!created.ok) throw new Error(`API key creation answered ${created.status}: ${await created.text()}`);
  const body = (await created.json()) as { data?: { rawApiKey?: string; apiKey?: string } };
  const apiKey = body.data?.rawApiKey ?? body.data?.apiKey;
  if (!apiKey) throw new Error('n8n answered no API key');
  return apiKey;
}

async function main(): Promise<number> {
  if (!existsSync(bin)) {
    console.log(`installing n8n@${N8N_VERSION} into ${prefix} (this takes a while)…`);
    // Without install scripts: some native builds (librdkafka for the Kafka node) download
    // sources and fail offline. Only sqlite3 (n8n's database) must be built; it bundles SQLite.
    const install = spawnSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--ignore-scripts', `n8n@${N8N_VERSION}`], { stdio: 'inherit' });
    if (install.status !== 0) return install.status ?? 1;
    const sqlite = spawnSync('npm', ['rebuild', 'sqlite3'], { stdio: 'inherit', cwd: prefix });
    if (sqlite.status !== 0) return sqlite.status ?? 1;
  }
  const userFolder = mkdtempSync(path.join(os.tmpdir(), 'glavito-n8n-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [bin, 'start'], {
    env: {
      ...process.env,
      N8N_USER_FOLDER: userFolder,
      N8N_PORT: String(port),
      N8N_LISTEN_ADDRESS: '127.0.0.1',
      N8N_HOST: '127.0.0.1',
      N8N_PROTOCOL: 'http',
      N8N_SECURE_COOKIE: 'false',
      N8N_DIAGNOSTICS_ENABLED: 'false',
      N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
      N8N_TEMPLATES_ENABLED: 'false',
      N8N_PERSONALIZATION_ENABLED: 'false',
      N8N_PUBLIC_API_DISABLED: 'false',
      N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await waitReady(url, child, 180_000);
    const apiKey = await createApiKey(url);
    const base = ((await import(pathToFileURL(path.join(root, 'jest.config.js')).href)) as { default: Record<string, unknown> }).default;
    const config = {
      ...base,
      rootDir: root,
      testMatch: ['<rootDir>/test/n8n-real.test.n8n.ts'],
      testPathIgnorePatterns: ['/node_modules/'],
      globalSetup: undefined,
      globalTeardown: undefined,
      maxWorkers: 1,
    };
    const jest = spawnSync(process.execPath, ['--experimental-vm-modules', path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--config', JSON.stringify(config)], {
      stdio: 'inherit',
      env: { ...process.env, N8N_URL: url, N8N_API_KEY: apiKey },
    });
    return jest.status ?? 1;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    rmSync(userFolder, { recursive: true, force: true });
  }
}

process.exitCode = await main().catch((error: unknown) => {
  console.error(error);
  return 1;
});
