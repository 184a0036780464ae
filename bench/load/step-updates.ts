// Load generator of the step-updates scenario, run in its own process (never in the server's):
// starts one onboarding session per tenant, then `concurrency` clients each PATCH
// organization_setup of their tenant's session in a closed loop over keep-alive connections.
// Prints one LoadReport as JSON on stdout; progress goes to stderr.
import http from 'node:http';
import { z } from 'zod';
import { signToken } from '../../server/auth/tokens.ts';
import { runLoop, type Outcome } from '../support/load-loop.ts';
import { buildReport, httpRequest, readConfig, readSecret, type HttpResponse, type ServerUsage } from '../support/load-report.ts';
import { processCpuSeconds, processMemoryMiB } from '../support/proc.ts';

const configSchema = z.strictObject({
  baseUrl: z.url(),
  tenants: z.int().positive(),
  concurrency: z.int().positive(),
  warmupMs: z.int().nonnegative(),
  durationMs: z.int().positive(),
  maxOperations: z.int().positive(),
  requestTimeoutMs: z.int().positive(),
  /** The server's pid, to read its CPU time and RSS from /proc at the window's edges. */
  serverPid: z.int().positive(),
  /** Distinguishes tenants between runs that share a database (they do not, but be safe). */
  tenantPrefix: z.string().regex(/^[a-z0-9-]+$/),
});

const config = readConfig((value) => configSchema.parse(value));
const secret = readSecret();

const base = new URL(config.baseUrl);
// One socket per client: each client has at most one request in flight.
const agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency, maxFreeSockets: config.concurrency });

function request(method: string, path: string, token: string, body: string): Promise<HttpResponse> {
  return httpRequest({ agent, base, method, path, token, body, timeoutMs: config.requestTimeoutMs });
}

/** "409 ONBOARDING_SESSION_NOT_ACTIVE": the status and, when the body says, the error code. */
function failureKind(response: HttpResponse): string {
  try {
    const parsed = JSON.parse(response.body) as { error?: { code?: unknown }; code?: unknown };
    const code = parsed.error?.code ?? parsed.code;
    if (typeof code === 'string') return `${response.status} ${code}`;
  } catch {
    // not JSON: the status alone
  }
  return String(response.status);
}

// Set-up: one session per tenant, started by that tenant's admin.
const sessionIds: string[] = [];
for (let tenant = 0; tenant < config.tenants; tenant += 1) {
  const token = await signToken(secret, { sub: 'bench-owner', tenant: `${config.tenantPrefix}-${tenant}`, role: 'admin' });
  const response = await request('POST', '/api/v1/onboarding/sessions', token, '{}');
  if (response.status !== 201 && response.status !== 200) {
    throw new Error(`starting the session of tenant ${tenant} answered ${response.status}: ${response.body.slice(0, 500)}`);
  }
  const view = JSON.parse(response.body) as { session: { id: string } };
  sessionIds.push(view.session.id);
}

// Client c edits the session of tenant c mod N, as its own admin user.
const clients = await Promise.all(
  Array.from({ length: config.concurrency }, async (_, client) => {
    const tenant = client % config.tenants;
    return {
      token: await signToken(secret, { sub: `bench-admin-${client}`, tenant: `${config.tenantPrefix}-${tenant}`, role: 'admin' }),
      path: `/api/v1/onboarding/sessions/${sessionIds[tenant]}/steps/organization_setup`,
    };
  }),
);

// Small valid merge patches, rotating through a few fields of organization_setup.
const INDUSTRIES = ['ecommerce', 'saas', 'finance', 'travel'] as const;
const TIMEZONES = ['Europe/Paris', 'America/New_York', 'Asia/Tokyo', 'UTC'] as const;
function patch(client: number, sequence: number): string {
  switch (sequence % 4) {
    case 0:
      return JSON.stringify({ name: `Acme ${client}-${sequence}` });
    case 1:
      return JSON.stringify({ industry: INDUSTRIES[sequence % INDUSTRIES.length] });
    case 2:
      return JSON.stringify({ timezone: TIMEZONES[(sequence >> 2) % TIMEZONES.length] });
    default:
      return JSON.stringify({ name: `Acme ${client}-${sequence}`, size: '11-50' });
  }
}

async function edit(client: number, sequence: number): Promise<Outcome> {
  const { token, path } = clients[client]!;
  let response: HttpResponse;
  try {
    response = await request('PATCH', path, token, patch(client, sequence));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, kind: message === 'timeout' ? 'timeout' : 'network', detail: message };
  }
  // A 200 carries the edit's position in the durable update log: the edit is committed.
  if (response.status === 200 && response.body.includes('"updateId"')) return { ok: true };
  return { ok: false, kind: response.status === 200 ? '200 without updateId' : failureKind(response), detail: response.body.slice(0, 300) };
}

console.error(`[load] ${sessionIds.length} sessions started; ${config.concurrency} clients for ${config.warmupMs} ms warm-up + ${config.durationMs} ms`);
let cpuAtStart = 0;
let windowStartedAt = 0;
let server: ServerUsage | undefined;
const result = await runLoop({
  concurrency: config.concurrency,
  warmupMs: config.warmupMs,
  durationMs: config.durationMs,
  maxOperations: config.maxOperations,
  operation: edit,
  // A server that died mid-run has no /proc entry: its usage is then missing, and the failed
  // requests say why.
  onWindowStart: () => {
    windowStartedAt = performance.now();
    try {
      cpuAtStart = processCpuSeconds(config.serverPid);
    } catch (error) {
      console.error(`[load] cannot read the server's CPU time: ${String(error)}`);
    }
  },
  onWindowEnd: () => {
    const seconds = (performance.now() - windowStartedAt) / 1000;
    try {
      const cpuSeconds = processCpuSeconds(config.serverPid) - cpuAtStart;
      const memory = processMemoryMiB(config.serverPid);
      server = {
        pid: config.serverPid,
        cpuSeconds,
        cpuPercentOfOneCore: seconds > 0 ? (cpuSeconds / seconds) * 100 : Number.NaN,
        peakRssMiB: memory.peakRss,
        rssMiB: memory.rss,
      };
    } catch (error) {
      console.error(`[load] cannot read the server's CPU time or memory: ${String(error)}`);
    }
  },
});
agent.destroy();
process.stdout.write(`${JSON.stringify(buildReport(result, server))}\n`);
