// A throwaway stripe-mock (Stripe's official API mock, which validates requests against Stripe's
// OpenAPI spec) on a free loopback port. The binary is built from source with Go once and cached
// in .cache/bin/stripe-mock.
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './free-port.ts';
import {
  findExecutable,
  isExecutableFile,
  run,
  spawnService,
  startInTempDir,
} from './system.ts';

export interface StripeMockService {
  url: string;
  stop(): Promise<void>;
}

const STRIPE_MOCK_MODULE = 'github.com/stripe/stripe-mock@v0.197.0';
const repoRoot = path.resolve(import.meta.dirname, '../..');
const binary = path.join(repoRoot, '.cache', 'bin', 'stripe-mock');

/** The cached binary, building it with `go install` first when it is missing. */
async function stripeMockBinary(): Promise<string> {
  if (isExecutableFile(binary)) return binary;
  // Debian's golang-go (1.19) is older than stripe-mock's go.mod asks for, so no apt fallback.
  const go = findExecutable('go', ['/usr/local/go/bin']);
  if (go === undefined) {
    throw new Error(
      `stripe-mock is not built yet (${path.relative(repoRoot, binary)}) and Go is not on PATH or in /usr/local/go/bin. ` +
        'Install Go >= 1.22 from https://go.dev/dl/ to build it.',
    );
  }
  console.error(`services: building ${STRIPE_MOCK_MODULE} with Go into ${path.relative(repoRoot, binary)} (once)`);
  await fs.promises.mkdir(path.dirname(binary), { recursive: true });
  // Build next to the target and rename into place: an interrupted build never looks complete.
  const partial = await fs.promises.mkdtemp(`${binary}.partial-`);
  try {
    await run(go, ['install', STRIPE_MOCK_MODULE], {
      what: 'building stripe-mock',
      // CGO off: a static binary that builds without a C compiler; -modcacherw keeps Go's module cache deletable.
      env: { ...process.env, GOBIN: partial, CGO_ENABLED: '0', GOFLAGS: '-modcacherw' },
    });
    await fs.promises.rename(path.join(partial, 'stripe-mock'), binary);
  } finally {
    await fs.promises.rm(partial, { recursive: true, force: true });
  }
  return binary;
}

async function answersRequests(url: string): Promise<boolean> {
  const response = await fetch(`${url}/v1/customers`, {
    headers: { Authorization: 'Bearer sk_test_123', Connection: 'close' },
    signal: AbortSignal.timeout(2_000),
  });
  await response.arrayBuffer();
  return response.ok;
}

export async function startStripeMock(): Promise<StripeMockService> {
  const command = await stripeMockBinary();
  return startInTempDir('stripe-mock', async (dir, track) => {
    const port = await freePort();
    const server = track(
      spawnService({
        name: 'stripe-mock',
        command,
        // HTTPS cannot be switched off together with -http-addr and otherwise takes the fixed port
        // 12112 on every interface; port 0 lets the kernel pick one nobody else will collide with.
        args: ['-http-addr', `127.0.0.1:${port}`, '-https-addr', '127.0.0.1:0'],
        logPath: path.join(dir, 'stripe-mock.log'),
        cwd: dir,
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    await server.waitUntilReady(() => answersRequests(url), { timeoutMs: 15_000, what: `stripe-mock at ${url} to answer GET /v1/customers` });
    return { url };
  });
}
