// What a load-generator child prints on stdout (one JSON document), and how it is built; what it is
// handed (its config, the secret that signs its tokens); its HTTP requests to the server.
import http from 'node:http';
import { latencyHistogram, summarizeLatencies, type LatencySummary } from './stats.ts';
import type { LoopResult, PhaseCounts } from './load-loop.ts';

export type ServerUsage = {
  pid: number;
  /** User + system CPU seconds the server used during the measured window. */
  cpuSeconds: number;
  /** cpuSeconds / window seconds × 100: 100 means one core busy for the whole window. */
  cpuPercentOfOneCore: number;
  /** VmHWM at the end of the window: the highest RSS since the server started. */
  peakRssMiB: number;
  rssMiB: number;
};

export type LoadReport = {
  windowSeconds: number;
  stoppedBy: LoopResult['stoppedBy'];
  started: number;
  /** Successful operations completed in the window, per second. */
  throughputPerSecond: number;
  latencyMs: LatencySummary;
  histogram: { upperMs: number; count: number }[];
  measured: PhaseCounts;
  warmup: PhaseCounts;
  afterWindow: PhaseCounts;
  /** Failed operations in the window, by kind (HTTP status and error code, timeout, ...). */
  errorsInWindow: number;
  /** Failed operations in any phase (warm-up, window, drain). */
  errorsTotal: number;
  errorSamples: string[];
  /** CPU seconds of the load generator itself, to see whether it was the bottleneck. */
  clientCpuSeconds: number;
  /** The whole machine's CPU use during the window (all cores; 100 = every core busy). */
  machineCpuBusyPercent: number | null;
  server?: ServerUsage;
};

const sum = (errors: Record<string, number>) => Object.values(errors).reduce((total, count) => total + count, 0);

export function buildReport(result: LoopResult, server?: ServerUsage): LoadReport {
  const errorsInWindow = sum(result.measured.errors);
  return {
    windowSeconds: result.windowSeconds,
    stoppedBy: result.stoppedBy,
    started: result.started,
    throughputPerSecond: result.windowSeconds > 0 ? result.measured.ok / result.windowSeconds : 0,
    latencyMs: summarizeLatencies(result.latenciesMs),
    histogram: latencyHistogram(result.latenciesMs),
    measured: result.measured,
    warmup: result.warmup,
    afterWindow: result.afterWindow,
    errorsInWindow,
    errorsTotal: errorsInWindow + sum(result.warmup.errors) + sum(result.afterWindow.errors),
    errorSamples: result.errorSamples,
    clientCpuSeconds: result.clientCpuSeconds,
    machineCpuBusyPercent: result.machineCpuBusyPercent,
    ...(server ? { server } : {}),
  };
}

/** Reads the child's config: one JSON argument. */
export function readConfig<T>(parse: (value: unknown) => T): T {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error('expected the configuration as one JSON argument');
  return parse(JSON.parse(raw));
}

/** Reads the secret that signs the child's tokens: the server's JWT_SECRET, handed over as BENCH_JWT_SECRET. */
export function readSecret(): string {
  const secret = process.env.BENCH_JWT_SECRET;
  if (secret === undefined || secret.length < 32) throw new Error('BENCH_JWT_SECRET (32+ characters) is required');
  return secret;
}

export type HttpResponse = { status: number; body: string };

/**
 * One request over `agent` (kept-alive connections) with a bearer token and, when there is one, a
 * JSON body. Resolves with the status and the whole body once it has been read; rejects on a network
 * error, or with the error `timeout` after `timeoutMs` of socket inactivity.
 */
export function httpRequest(request: {
  agent: http.Agent;
  base: URL;
  method: string;
  path: string;
  token: string;
  body?: string;
  timeoutMs: number;
}): Promise<HttpResponse> {
  const { agent, base, method, path, token, body, timeoutMs } = request;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ agent, host: base.hostname, port: base.port, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
