// Verification of inbound webhooks, as pure functions the integration routes call with the raw
// request body (before any JSON parsing: a re-serialised body does not verify).
//
// Meta (WhatsApp Cloud API, Instagram Graph API):
// - subscribing, Meta sends GET ?hub.mode=subscribe&hub.verify_token=<ours>&hub.challenge=<n>;
//   we echo the challenge only when the token is the one configured;
// - every event is a POST signed `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`.
// Stripe: `Stripe-Signature: t=<unix s>,v1=<hex HMAC>`, checked by stripe-node with the endpoint's
// signing secret and a timestamp tolerance (replay window).
//
// Every comparison is constant time and every failure refuses (fail closed): a missing or
// malformed header, an empty configured secret, a wrong signature. Errors never echo secrets,
// signatures or bodies.
import crypto from 'node:crypto';
import Stripe from 'stripe';
import { AppError } from '../../shared/errors.ts';

export type RawBody = string | Uint8Array;

function bytesOf(body: RawBody): Buffer {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** Constant-time equality of two strings of any lengths (compares their SHA-256 digests). */
function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => crypto.createHash('sha256').update(value, 'utf8').digest();
  return crypto.timingSafeEqual(digest(a), digest(b));
}

function metaRefused(reason: string): AppError {
  return new AppError('FORBIDDEN', `webhook verification failed: ${reason}`, { reason });
}

type QueryValue = string | readonly string[] | undefined;

/** A single query parameter: a repeated one is ambiguous and counts as missing. */
function single(value: QueryValue): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/**
 * Meta's subscription handshake: returns the `hub.challenge` to echo (as the 200 body) when
 * `hub.mode` is `subscribe` and `hub.verify_token` equals the configured token; throws
 * AppError('FORBIDDEN') otherwise.
 */
export function verifyMetaHandshake(query: Readonly<Record<string, QueryValue>>, verifyToken: string): string {
  if (verifyToken === '') throw metaRefused('no verify token configured');
  const mode = single(query['hub.mode']);
  const token = single(query['hub.verify_token']);
  const challenge = single(query['hub.challenge']);
  if (mode !== 'subscribe') throw metaRefused('hub.mode must be subscribe');
  if (token === undefined || !sameSecret(token, verifyToken)) throw metaRefused('wrong verify token');
  if (challenge === undefined || challenge === '' || challenge.length > 256) throw metaRefused('missing hub.challenge');
  return challenge;
}

const META_SIGNATURE = /^sha256=([0-9a-fA-F]{64})$/;

/**
 * Checks `X-Hub-Signature-256` against HMAC-SHA256(app secret, raw body); throws
 * AppError('FORBIDDEN') when it is missing, malformed or wrong.
 */
export function verifyMetaSignature(rawBody: RawBody, signatureHeader: string | undefined, appSecret: string): void {
  if (appSecret === '') throw metaRefused('no app secret configured');
  if (signatureHeader === undefined || signatureHeader === '') throw metaRefused('missing X-Hub-Signature-256');
  const match = META_SIGNATURE.exec(signatureHeader.trim());
  if (match === null) throw metaRefused('malformed X-Hub-Signature-256');
  const expected = crypto.createHmac('sha256', appSecret).update(bytesOf(rawBody)).digest();
  if (!crypto.timingSafeEqual(Buffer.from(match[1]!, 'hex'), expected)) throw metaRefused('signature does not match');
}

export const STRIPE_DEFAULT_TOLERANCE_SECONDS = 300;

function stripeRefused(reason: string): AppError {
  return new AppError('STRIPE_WEBHOOK_FAILED', `Stripe webhook verification failed: ${reason}`, { reason });
}

/**
 * Verifies a Stripe webhook (`Stripe-Signature` header) with stripe-node on the raw body and the
 * endpoint's signing secret, and returns the event. Events signed more than `toleranceSeconds`
 * (default 300) ago are refused as replays. Every failure is AppError('STRIPE_WEBHOOK_FAILED').
 */
export function verifyStripeEvent(
  rawBody: RawBody,
  signatureHeader: string | undefined,
  endpointSecret: string,
  options: { toleranceSeconds?: number; now?: number } = {},
): Stripe.Event {
  const tolerance = options.toleranceSeconds ?? STRIPE_DEFAULT_TOLERANCE_SECONDS;
  // stripe-node skips the timestamp check for a tolerance of 0: never ask it to.
  if (!(tolerance > 0)) throw new Error('the Stripe webhook tolerance must be a positive number of seconds');
  if (endpointSecret.trim() === '') throw stripeRefused('no endpoint secret configured');
  if (signatureHeader === undefined || signatureHeader === '') throw stripeRefused('missing Stripe-Signature');
  try {
    return Stripe.webhooks.constructEvent(bytesOf(rawBody), signatureHeader, endpointSecret, tolerance, undefined, options.now);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
      const reason = /tolerance/i.test(error.message)
        ? 'timestamp outside the tolerance'
        : /no signatures found matching/i.test(error.message)
          ? 'signature does not match'
          : 'malformed Stripe-Signature';
      throw stripeRefused(reason);
    }
    // A verified body that is not JSON, or stripe-node refusing its input.
    throw stripeRefused('malformed payload');
  }
}
