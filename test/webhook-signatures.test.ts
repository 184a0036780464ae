// Inbound webhook verification: Meta's GET handshake and X-Hub-Signature-256, Stripe's signed
// events (signed here with stripe-node's own test header generator). Only the valid case passes.
import crypto from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import Stripe from 'stripe';
import { AppError } from '../shared/errors.ts';
import { verifyMetaHandshake, verifyMetaSignature, verifyStripeEvent } from '../server/integrations/webhook-signatures.ts';

function refusal(action: () => unknown): { code: string; reason: unknown; message: string } {
  try {
    action();
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { code: error.code, reason: error.details?.reason, message: error.message };
  }
  throw new Error('expected a refusal');
}

describe('Meta subscription handshake (GET)', () => {
  const verifyToken = 'my-verify-token-1234';
  const query = { 'hub.mode': 'subscribe', 'hub.verify_token': verifyToken, 'hub.challenge': '1158201444' };

  it('echoes the challenge for the right token', () => {
    expect(verifyMetaHandshake(query, verifyToken)).toBe('1158201444');
  });

  it('refuses a wrong, missing or repeated token, another mode, a missing challenge, or no token configured', () => {
    for (const bad of [
      { ...query, 'hub.verify_token': 'my-verify-token-1235' },
      { ...query, 'hub.verify_token': verifyToken.slice(0, -1) },
      { ...query, 'hub.verify_token': undefined },
      { ...query, 'hub.verify_token': [verifyToken, verifyToken] },
      { ...query, 'hub.mode': 'unsubscribe' },
      { ...query, 'hub.challenge': undefined },
    ]) {
      expect(refusal(() => verifyMetaHandshake(bad, verifyToken))).toMatchObject({ code: 'FORBIDDEN' });
    }
    expect(refusal(() => verifyMetaHandshake({ ...query, 'hub.verify_token': '' }, ''))).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('never echoes the token in its error', () => {
    expect(refusal(() => verifyMetaHandshake({ ...query, 'hub.verify_token': 'guess' }, verifyToken)).message).not.toContain(verifyToken);
  });
});

describe('Meta X-Hub-Signature-256 (POST)', () => {
  const appSecret = 'meta-app-secret-abcdef';
  const body = Buffer.from(JSON.stringify({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ value: { messages: [{ text: { body: 'héllo' } }] } }] }] }));
  const sign = (payload: Buffer, secret = appSecret) => `sha256=${crypto.createHmac('sha256', secret).update(payload).digest('hex')}`;

  it('accepts the raw body signed with the app secret (as bytes or as the same text)', () => {
    expect(() => verifyMetaSignature(body, sign(body), appSecret)).not.toThrow();
    expect(() => verifyMetaSignature(body.toString('utf8'), sign(body), appSecret)).not.toThrow();
    expect(() => verifyMetaSignature(body, sign(body).toUpperCase().replace('SHA256=', 'sha256='), appSecret)).not.toThrow();
  });

  it('refuses a tampered body, a wrong secret, a missing or malformed header, and an empty secret', () => {
    const tampered = Buffer.from(body);
    tampered[tampered.length - 3]! ^= 0x01;
    expect(refusal(() => verifyMetaSignature(tampered, sign(body), appSecret))).toMatchObject({ code: 'FORBIDDEN', reason: 'signature does not match' });
    expect(refusal(() => verifyMetaSignature(body, sign(body, 'another-secret'), appSecret))).toMatchObject({ reason: 'signature does not match' });
    expect(refusal(() => verifyMetaSignature(body, undefined, appSecret))).toMatchObject({ reason: 'missing X-Hub-Signature-256' });
    expect(refusal(() => verifyMetaSignature(body, '', appSecret))).toMatchObject({ reason: 'missing X-Hub-Signature-256' });
    for (const malformed of [sign(body).slice(7), sign(body).replace('sha256=', 'sha1='), sign(body).slice(0, -2), `${sign(body)}00`, 'sha256=zz']) {
      expect(refusal(() => verifyMetaSignature(body, malformed, appSecret))).toMatchObject({ reason: 'malformed X-Hub-Signature-256' });
    }
    expect(refusal(() => verifyMetaSignature(body, sign(body, ''), ''))).toMatchObject({ reason: 'no app secret configured' });
  });
});

describe('Stripe signatures', () => {
  const secret = 'whsec_test_secret_0123456789';
  const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1', object: 'invoice' } } });
  const header = (options: { timestamp?: number; secret?: string; payload?: string } = {}) =>
    Stripe.webhooks.generateTestHeaderString({ payload: options.payload ?? payload, secret: options.secret ?? secret, ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}) });
  const now = () => Math.floor(Date.now() / 1000);

  it('returns the event for a valid signature on the raw body', () => {
    const event = verifyStripeEvent(Buffer.from(payload), header(), secret);
    expect(event).toMatchObject({ id: 'evt_1', type: 'invoice.paid' });
    expect(verifyStripeEvent(payload, header({ timestamp: now() - 299 }), secret).id).toBe('evt_1');
  });

  it('refuses a tampered body, a wrong secret, a missing header, a stale timestamp, a malformed header', () => {
    const failed = (action: () => unknown) => refusal(action);
    expect(failed(() => verifyStripeEvent(payload.replace('in_1', 'in_2'), header(), secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'signature does not match' });
    expect(failed(() => verifyStripeEvent(payload, header({ secret: 'whsec_other' }), secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'signature does not match' });
    expect(failed(() => verifyStripeEvent(payload, undefined, secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'missing Stripe-Signature' });
    expect(failed(() => verifyStripeEvent(payload, header({ timestamp: now() - 301 }), secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'timestamp outside the tolerance' });
    expect(failed(() => verifyStripeEvent(payload, header({ timestamp: now() - 61 }), secret, { toleranceSeconds: 60 }))).toMatchObject({ reason: 'timestamp outside the tolerance' });
    expect(failed(() => verifyStripeEvent(payload, 'v1=abc', secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'malformed Stripe-Signature' });
    expect(failed(() => verifyStripeEvent(payload, header(), ''))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'no endpoint secret configured' });
    // A correctly signed body that is not JSON.
    expect(failed(() => verifyStripeEvent('not json', header({ payload: 'not json' }), secret))).toMatchObject({ code: 'STRIPE_WEBHOOK_FAILED', reason: 'malformed payload' });
  });

  it('never turns the timestamp check off', () => {
    expect(() => verifyStripeEvent(payload, header(), secret, { toleranceSeconds: 0 })).toThrow(/positive/);
  });

  it('keeps the secret, the signature and the body out of its errors', () => {
    const signature = header({ secret: 'whsec_other' });
    const { message } = refusal(() => verifyStripeEvent(payload, signature, secret));
    expect(message).not.toContain(secret);
    expect(message).not.toContain(signature);
    expect(message).not.toContain('evt_1');
  });
});
