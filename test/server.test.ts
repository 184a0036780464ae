import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { signToken } from '../server/auth/tokens.ts';
import { createLogger } from '../server/logger.ts';
import { startServer, type RunningServer } from '../server/server.ts';
import { TEST_JWT_SECRET, testConfig } from './support/config.ts';

const SOCKET_LIMIT = 4_096;
let server: RunningServer;
let adminToken: string;

beforeAll(async () => {
  const config = testConfig({ NODE_ID: 'test', SOCKET_MAX_MESSAGE_BYTES: String(SOCKET_LIMIT), HTTP_BODY_LIMIT_BYTES: '2048' });
  server = await startServer(config, createLogger({ level: 'silent', nodeId: 'test' }));
  adminToken = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant: 'acme', role: 'admin' });
});
afterAll(() => server.stop());

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${server.url}${path}`, { headers });

describe('the HTTP skeleton on the embedded database', () => {
  it('answers liveness, and readiness with the database check', async () => {
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks)).toEqual(['database']);
    expect(body.checks.database?.ok).toBe(true);
  });

  it('exposes Prometheus metrics labelled by route template', async () => {
    await get('/healthz');
    const text = await (await get('/metrics')).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{node="test",method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('echoes a sane request id and replaces an unsafe one', async () => {
    expect((await get('/healthz', { 'x-request-id': 'abc-123' })).headers.get('x-request-id')).toBe('abc-123');
    expect((await get('/healthz', { 'x-request-id': 'not a safe id; drop table' })).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('returns the verified principal to a caller with a valid token', async () => {
    const response = await get('/api/v1/me', { authorization: `Bearer ${adminToken}` });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ principal: { userId: 'u1', tenantId: 'acme', role: 'admin' } });
  });

  it('answers 401 with a code for a missing, expired or forged token', async () => {
    const expired = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant: 'acme', role: 'admin' }, { expiresIn: -60 });
    const cases: [Record<string, string>, string][] = [
      [{}, 'AUTH_TOKEN_MISSING'],
      [{ authorization: `Bearer ${expired}` }, 'AUTH_TOKEN_EXPIRED'],
      [{ authorization: `Bearer ${adminToken}x` }, 'AUTH_TOKEN_INVALID'],
    ];
    for (const [headers, code] of cases) {
      const response = await get('/api/v1/me', headers);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('wraps unknown routes, oversized and malformed bodies in the error envelope', async () => {
    const unknown = await get('/api/v2/nothing');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /api/v2/nothing' } });

    const post = (body: string) =>
      fetch(`${server.url}/api/v1/me`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
        body,
      });
    const tooLarge = await post(JSON.stringify({ blob: 'x'.repeat(4_000) }));
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    const malformed = await post('{"unterminated": ');
    expect(malformed.status).toBe(400);
    const body = (await malformed.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(body)).not.toMatch(/at .*\.ts:\d+/); // never a stack trace
  });
});

describe('Socket.IO on the same HTTP server', () => {
  const connect = (auth: Record<string, string>): Socket =>
    connectSocket(server.url, { transports: ['websocket'], auth, reconnection: false, forceNew: true });

  const connectError = (auth: Record<string, string>) =>
    new Promise<{ code: string }>((resolve, reject) => {
      const socket = connect(auth);
      socket.on('connect', () => reject(new Error('connected without a valid token')));
      socket.on('connect_error', (error) => {
        socket.close();
        resolve((error as Error & { data: { code: string } }).data);
      });
    });

  it('accepts a handshake carrying a valid token', async () => {
    const socket = connect({ token: adminToken });
    await new Promise<void>((resolve, reject) => {
      socket.on('connect', resolve);
      socket.on('connect_error', reject);
    });
    expect(socket.connected).toBe(true);
    socket.close();
  });

  it('refuses handshakes without, with an expired or with a forged token', async () => {
    const expired = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant: 'acme', role: 'admin' }, { expiresIn: -60 });
    expect((await connectError({})).code).toBe('AUTH_TOKEN_MISSING');
    expect((await connectError({ token: expired })).code).toBe('AUTH_TOKEN_EXPIRED');
    expect((await connectError({ token: 'garbage' })).code).toBe('AUTH_TOKEN_INVALID');
  });

  it('closes a connection that sends a frame above the configured limit', async () => {
    const socket = connect({ token: adminToken });
    await new Promise<void>((resolve) => socket.on('connect', resolve));
    const reason = new Promise<string>((resolve) => socket.on('disconnect', resolve));
    socket.emit('anything', 'x'.repeat(SOCKET_LIMIT * 2));
    expect(await reason).toBe('transport close');
  });
});
