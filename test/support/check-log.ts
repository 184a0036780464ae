// A minimal n8n API that records every health check it answers, for the cluster test of scheduled
// health checks (test/cluster-integrations.test.ts), plus the arithmetic over the recorded times.
//
// The n8n provider checks (and connects) with `GET <baseUrl>/api/v1/workflows?limit=1` and header
// `X-N8N-API-KEY` (server/integrations/providers/n8n.ts). Every tenant gets an API key of its own, so
// each recorded request names the integration it checks. A known key gets n8n's empty list
// (`{ data: [], nextCursor: null }`), an unknown or missing one n8n's 401, anything else 404; each
// request is recorded, answered or not.
import http from 'node:http';
import { listenOnFreePort } from './stand-in-server.ts';
import { randomUUID } from 'node:crypto';

/** One request as it arrived (`at`: Date.now() on arrival). `key` is undefined without the header. */
export type CheckRecord = { at: number; key: string | undefined; method: string; path: string; status: number };

export type CheckLog = {
  url: string;
  /** Every request so far, in arrival order. */
  readonly requests: readonly CheckRecord[];
  /** A new API key the server accepts, for one tenant. */
  newKey(): string;
  /** Arrival times of the accepted checks made with `key`, ascending. */
  checksOf(key: string): number[];
  close(): Promise<void>;
};

export async function startCheckLog(): Promise<CheckLog> {
  const keys = new Set<string>();
  const requests: CheckRecord[] = [];
  const server = http.createServer((req, res) => {
    const at = Date.now();
    const header = req.headers['x-n8n-api-key'];
    const key = typeof header === 'string' ? header : undefined;
    const url = new URL(req.url ?? '/', 'http://check-log');
    const answer = (status: number, body: unknown) => {
      requests.push({ at, key, method: req.method ?? '', path: `${url.pathname}${url.search}`, status });
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (key === undefined) return answer(401, { message: "'X-N8N-API-KEY' header required" });
      if (!keys.has(key)) return answer(401, { message: 'unauthorized' });
      if (req.method !== 'GET' || url.pathname !== '/api/v1/workflows') return answer(404, { message: 'Not Found' });
      return answer(200, { data: [], nextCursor: null });
    });
  });
  const listening = await listenOnFreePort(server);
  return {
    url: listening.url,
    requests,
    newKey() {
      const key = `n8n_api_${randomUUID().replace(/-/g, '')}`;
      keys.add(key);
      return key;
    },
    checksOf: (key) => requests.filter((request) => request.key === key && request.status === 200).map((request) => request.at),
    close: listening.close,
  };
}

/**
 * The gaps of one integration's checks over the window [from, to]: between consecutive checks in it
 * (`between`), and the longest pause counting the window's edges too (`longest`: from `from` to the
 * first check, and from the last check to `to`), so an integration nobody checks any more shows up.
 */
export type Gaps = { checks: number; between: number[]; longest: number; shortest: number };

export function gapsIn(times: readonly number[], from: number, to: number): Gaps {
  const inside = times.filter((at) => at >= from && at <= to);
  const between = inside.slice(1).map((at, i) => at - inside[i]!);
  const edges = inside.length === 0 ? [to - from] : [inside[0]! - from, to - inside.at(-1)!];
  return {
    checks: inside.length,
    between,
    longest: Math.max(...between, ...edges),
    shortest: between.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...between),
  };
}

/** `min p50 p95 max` of some millisecond figures, for the test's printout. */
export function distribution(values: readonly number[]): string {
  if (values.length === 0) return '(none)';
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return `min ${sorted[0]} p50 ${at(50)} p95 ${at(95)} max ${sorted.at(-1)} (n=${sorted.length})`;
}
