// Load generator of the residency scenario (issue 7 scenario 3), run in its own process (never in the
// server's). It lives across the scenario's server restarts and does what the harness asks
// (bench/support/ipc.ts requests), each against the server whose base URL the request names:
// - populate: one tenant per session; starts each tenant's onboarding session (POST) and gives it
//   content with three durable step edits (PATCH welcome, organization_setup, channel_configuration,
//   the sample data of shared/sample-data.ts with the tenant's own name), `concurrency` at a time;
// - paired: one at a time, over a sample of the sessions: GET the session (cold: its actor is not
//   resident, so this activates it) and at once GET it again (warm), timing both;
// - fill: GET every session, `concurrency` at a time (activates them all), timing each;
// - finish: sends the result (nothing) and exits.
// Every timing is the wall-clock time of one HTTP request over a kept-alive connection, from before
// it is written until its whole response has been read.
import http from 'node:http';
import { z } from 'zod';
import { signToken } from '../../server/auth/tokens.ts';
import { SAMPLE_STEP_DATA } from '../../shared/sample-data.ts';
import { answerRequests, readyThenWaitForGo, sendResult } from '../support/ipc.ts';
import { runInPool } from '../support/load-loop.ts';
import { httpRequest, readSecret, type HttpResponse } from '../support/load-report.ts';

const configSchema = z.strictObject({
  sessions: z.int().positive(),
  concurrency: z.int().positive(),
  requestTimeoutMs: z.int().positive(),
  tenantPrefix: z.string().regex(/^[a-z0-9-]+$/),
});

export type ResidencyRequest =
  | { op: 'populate'; baseUrl: string }
  | { op: 'paired'; baseUrl: string; samples: number }
  | { op: 'fill'; baseUrl: string }
  | { op: 'finish' };

export type Failures = { count: number; byKind: Record<string, number>; samples: string[] };

export type PopulateReply = { sessions: number; requests: number; seconds: number; failures: Failures; documentBytes: number };
/** Latencies in ms, in request order; `lastResponseAtEpochMs`: when the last response was read. */
export type PairedReply = { cold: Float64Array; warm: Float64Array; failures: Failures; lastResponseAtEpochMs: number };
export type FillReply = { latencyMs: Float64Array; seconds: number; failures: Failures; lastResponseAtEpochMs: number };

const config = configSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
const secret = readSecret();

const log = (message: string) => console.error(`[residency load] ${message}`);

let agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency, maxFreeSockets: config.concurrency });
let agentFor = '';

/** A fresh agent per server (a restarted server listens on another port). */
function agentOf(baseUrl: string): http.Agent {
  if (agentFor !== baseUrl) {
    agent.destroy();
    agent = new http.Agent({ keepAlive: true, maxSockets: config.concurrency, maxFreeSockets: config.concurrency });
    agentFor = baseUrl;
  }
  return agent;
}

function request(baseUrl: string, method: string, path: string, token: string, body?: string): Promise<HttpResponse> {
  return httpRequest({ agent: agentOf(baseUrl), base: new URL(baseUrl), method, path, token, body, timeoutMs: config.requestTimeoutMs });
}

function newFailures(): Failures {
  return { count: 0, byKind: {}, samples: [] };
}

function fail(failures: Failures, kind: string, detail: string): void {
  failures.count += 1;
  failures.byKind[kind] = (failures.byKind[kind] ?? 0) + 1;
  if (failures.samples.length < 5) failures.samples.push(`${kind}: ${detail.slice(0, 300)}`);
}

const tokens = await Promise.all(
  Array.from({ length: config.sessions }, (_, tenant) => signToken(secret, { sub: `bench-owner-${tenant}`, tenant: `${config.tenantPrefix}-${tenant}`, role: 'admin' })),
);
const sessionIds: string[] = new Array<string>(config.sessions).fill('');

function contentOf(tenant: number): [string, Record<string, unknown>][] {
  return [
    ['welcome', { ...SAMPLE_STEP_DATA.welcome }],
    ['organization_setup', { ...SAMPLE_STEP_DATA.organization_setup, name: `Bench tenant ${tenant}`, website: `https://tenant-${tenant}.example` }],
    ['channel_configuration', { ...SAMPLE_STEP_DATA.channel_configuration }],
  ];
}

async function populate(baseUrl: string): Promise<PopulateReply> {
  const failures = newFailures();
  const started = performance.now();
  let requests = 0;
  let documentBytes = 0;
  await runInPool(config.sessions, config.concurrency, async (tenant) => {
    const token = tokens[tenant] as string;
    try {
      const started = await request(baseUrl, 'POST', '/api/v1/onboarding/sessions', token, '{}');
      requests += 1;
      if (started.status !== 201 && started.status !== 200) {
        fail(failures, `POST ${started.status}`, started.body);
        return;
      }
      const id = (JSON.parse(started.body) as { session: { id: string } }).session.id;
      sessionIds[tenant] = id;
      for (const [step, data] of contentOf(tenant)) {
        const body = JSON.stringify(data);
        documentBytes += Buffer.byteLength(body);
        const response = await request(baseUrl, 'PATCH', `/api/v1/onboarding/sessions/${id}/steps/${step}`, token, body);
        requests += 1;
        if (response.status !== 200) fail(failures, `PATCH ${step} ${response.status}`, response.body);
      }
    } catch (error) {
      fail(failures, 'network', error instanceof Error ? error.message : String(error));
    }
  });
  const seconds = (performance.now() - started) / 1000;
  log(`${sessionIds.filter((id) => id !== '').length} sessions started with content (${requests} requests in ${seconds.toFixed(1)} s, ${failures.count} failed)`);
  return { sessions: sessionIds.filter((id) => id !== '').length, requests, seconds, failures, documentBytes: documentBytes / config.sessions };
}

/** One timed GET of a tenant's session; NaN when it failed (counted in `failures`). */
async function timedGet(baseUrl: string, tenant: number, failures: Failures): Promise<number> {
  const id = sessionIds[tenant] as string;
  const started = performance.now();
  try {
    const response = await request(baseUrl, 'GET', `/api/v1/onboarding/sessions/${id}`, tokens[tenant] as string);
    const ms = performance.now() - started;
    if (response.status === 200) return ms;
    fail(failures, `GET ${response.status}`, response.body);
  } catch (error) {
    fail(failures, 'network', error instanceof Error ? error.message : String(error));
  }
  return Number.NaN;
}

/** Opens the connection first, so the first timed request does not pay the TCP connect. */
async function warmConnection(baseUrl: string): Promise<void> {
  const response = await request(baseUrl, 'GET', '/healthz', tokens[0] as string);
  if (response.status !== 200) throw new Error(`/healthz answered ${response.status}`);
}

async function paired(baseUrl: string, samples: number): Promise<PairedReply> {
  await warmConnection(baseUrl);
  const failures = newFailures();
  const n = Math.min(samples, config.sessions);
  const cold = new Float64Array(n);
  const warm = new Float64Array(n);
  // Sessions spread over all tenants (every `step`-th one).
  const step = config.sessions / n;
  for (let i = 0; i < n; i += 1) {
    const tenant = Math.floor(i * step);
    cold[i] = await timedGet(baseUrl, tenant, failures);
    warm[i] = await timedGet(baseUrl, tenant, failures);
  }
  log(`${n} cold + warm GETs, ${failures.count} failed`);
  return { cold, warm, failures, lastResponseAtEpochMs: Date.now() };
}

async function fill(baseUrl: string): Promise<FillReply> {
  await warmConnection(baseUrl);
  const failures = newFailures();
  const latencyMs = new Float64Array(config.sessions);
  const started = performance.now();
  await runInPool(config.sessions, config.concurrency, async (tenant) => {
    latencyMs[tenant] = await timedGet(baseUrl, tenant, failures);
  });
  const seconds = (performance.now() - started) / 1000;
  log(`${config.sessions} GETs (${config.concurrency} at a time) in ${seconds.toFixed(1)} s, ${failures.count} failed`);
  return { latencyMs, seconds, failures, lastResponseAtEpochMs: Date.now() };
}

let finish: () => void = () => {};
const finished = new Promise<void>((resolve) => (finish = resolve));
answerRequests<ResidencyRequest, unknown>(async (req) => {
  switch (req.op) {
    case 'populate':
      return populate(req.baseUrl);
    case 'paired':
      return paired(req.baseUrl, req.samples);
    case 'fill':
      return fill(req.baseUrl);
    case 'finish':
      finish();
      return null;
  }
});
await readyThenWaitForGo({ tokens: tokens.length });
await finished;
agent.destroy();
await sendResult({});
