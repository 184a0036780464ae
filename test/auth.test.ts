import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTokenVerifier, signToken } from '../server/auth/tokens.ts';
import { AppError } from '../shared/errors.ts';
import { TEST_JWT_SECRET } from './support/config.ts';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
  return 'accepted';
}

describe('token verification with a shared secret', () => {
  const verify = createTokenVerifier({ secret: TEST_JWT_SECRET });

  it('accepts a valid token and returns its principal', async () => {
    const token = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant: 'acme', role: 'admin' });
    await expect(verify(token)).resolves.toEqual({ userId: 'u1', tenantId: 'acme', role: 'admin' });
  });

  it('refuses expired, forged, malformed and unsigned tokens with distinct codes', async () => {
    const expired = await signToken(TEST_JWT_SECRET, { sub: 'u1', tenant: 'acme', role: 'admin' }, { expiresIn: -60 });
    const forged = await signToken('another-secret-that-is-long-enough-000', { sub: 'u1', tenant: 'acme', role: 'admin' });
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u1","tenant":"acme","role":"owner"}').toString('base64url')}.`;
    expect(await codeOf(verify(expired))).toBe('AUTH_TOKEN_EXPIRED');
    expect(await codeOf(verify(forged))).toBe('AUTH_TOKEN_INVALID');
    expect(await codeOf(verify('not.a.token'))).toBe('AUTH_TOKEN_INVALID');
    expect(await codeOf(verify(unsigned))).toBe('AUTH_TOKEN_INVALID');
  });

  it('refuses a token whose role or tenant claim is not one we know', async () => {
    const secret = new TextEncoder().encode(TEST_JWT_SECRET);
    const badRole = await new SignJWT({ tenant: 'acme', role: 'root' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime('1h').sign(secret);
    const noTenant = await new SignJWT({ role: 'admin' }).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime('1h').sign(secret);
    expect(await codeOf(verify(badRole))).toBe('AUTH_TOKEN_INVALID');
    expect(await codeOf(verify(noTenant))).toBe('AUTH_TOKEN_INVALID');
  });

  it('checks issuer and audience when configured', async () => {
    const strict = createTokenVerifier({ secret: TEST_JWT_SECRET, issuer: 'glavito', audience: 'onboarding' });
    const claims = { sub: 'u1', tenant: 'acme', role: 'admin' } as const;
    expect(await codeOf(strict(await signToken(TEST_JWT_SECRET, claims)))).toBe('AUTH_TOKEN_INVALID');
    expect(await codeOf(strict(await signToken(TEST_JWT_SECRET, claims, { issuer: 'glavito', audience: 'onboarding' })))).toBe('accepted');
  });
});

describe('token verification against a JWKS endpoint', () => {
  let server: http.Server;
  let jwksUrl: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('accepts a token signed by a published key and refuses an HS256 token', async () => {
    const verify = createTokenVerifier({ jwksUrl });
    const token = await new SignJWT({ tenant: 'acme', role: 'agent' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('u9').setExpirationTime('1h').sign(privateKey);
    await expect(verify(token)).resolves.toEqual({ userId: 'u9', tenantId: 'acme', role: 'agent' });
    // A symmetric token must never pass where asymmetric keys are expected (algorithm confusion).
    expect(await codeOf(verify(await signToken(TEST_JWT_SECRET, { sub: 'u9', tenant: 'acme', role: 'owner' })))).toBe('AUTH_TOKEN_INVALID');
  });
});
