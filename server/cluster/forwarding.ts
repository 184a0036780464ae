// Node-to-node forwarding of actor calls (sessions, integrations): a node that does not own an actor
// sends the call to the owner over HTTP (keep-alive, one POST per call) and relays the answer — an edit's ack included,
// which the owner gives only after its commit, so acks stay end to end. Bodies are V8-serialized
// (Uint8Array, Date and Map survive) and signed with CLUSTER_SECRET (HMAC-SHA256 over timestamp and
// body, checked in constant time before anything is deserialized); the endpoint refuses everything
// else, so only cluster members can reach an actor through it.
import crypto from 'node:crypto';
import type http from 'node:http';
import v8 from 'node:v8';
import { NotOwner, OwnerGone, type Location } from '../../actors/placement.ts';
import { AppError, ERROR_STATUS, type ErrorCode } from '../../shared/errors.ts';
import type { ForwardedCall } from './actor-router.ts';
import type { Logger } from '../logger.ts';

export const FORWARD_PATH = '/internal/v1/actors/call';
const SIGNATURE_HEADER = 'x-cluster-signature';
/** Signed calls older or newer than this are refused (replay window; node clocks roughly agree). */
const MAX_SKEW_MS = 30_000;

/** What the owner answers: a value, an application error, or "not mine" (the sender re-locates). */
type Answer = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } } | { ok: false; notOwner: string };

function sign(secret: string, timestamp: string, body: Buffer): string {
  return crypto.createHmac('sha256', secret).update(timestamp).update('.').update(body).digest('hex');
}

function signatureValid(secret: string, header: string | undefined, body: Buffer): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const [, timestamp, signature] = match as unknown as [string, string, string];
  if (Math.abs(Date.now() - Number(timestamp)) > MAX_SKEW_MS) return false;
  const expected = Buffer.from(sign(secret, timestamp, body), 'hex');
  return crypto.timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

export class ForwardingClient {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /**
   * Sends `call` to the owner at `location`. Application errors are rethrown as AppError; an owner
   * that is gone, unreachable or no longer the owner surfaces as NotOwner, so the caller re-locates.
   */
  async call(location: Location & { kind: 'remote' }, call: ForwardedCall, timeoutMs: number): Promise<unknown> {
    const body = v8.serialize(call);
    const timestamp = String(Date.now());
    let answer: Answer;
    try {
      const response = await fetch(new URL(FORWARD_PATH, location.url), {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', [SIGNATURE_HEADER]: `t=${timestamp},v1=${sign(this.#secret, timestamp, body)}` },
        body,
        signal: AbortSignal.timeout(Math.ceil(timeoutMs)),
      });
      if (response.status !== 200) throw new Error(`owner ${location.nodeId} answered ${response.status}`);
      answer = v8.deserialize(Buffer.from(await response.arrayBuffer())) as Answer;
    } catch (error) {
      const message = `owner ${location.nodeId} did not answer: ${(error as Error).message}`;
      // fetch wraps the socket error: `cause.code` tells a refused connection from a slow answer.
      if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') throw new OwnerGone(location.nodeId, message);
      throw new NotOwner(message);
    }
    if (answer.ok) return answer.value;
    if ('notOwner' in answer) throw new NotOwner(answer.notOwner);
    const code = answer.error.code in ERROR_STATUS ? (answer.error.code as ErrorCode) : 'INTERNAL_ERROR';
    throw new AppError(code, answer.error.message, answer.error.details);
  }
}

export type ForwardingHandlerOptions = {
  secret: string;
  maxBodyBytes: number;
  /** Serves one forwarded call here (throws NotOwner if this node does not own its actor). */
  serve(call: ForwardedCall): Promise<unknown>;
  log: Logger;
};

/** The owner's side: POST FORWARD_PATH, signed; answers 200 with a serialized Answer. */
export function forwardingHandler(options: ForwardingHandlerOptions): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const reply = (res: http.ServerResponse, status: number, answer?: Answer) => {
    res.writeHead(status, { 'content-type': 'application/octet-stream' });
    res.end(answer ? v8.serialize(answer) : undefined);
  };
  return (req, res) => {
    if (req.method !== 'POST') return reply(res, 405);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.maxBodyBytes) {
        reply(res, 413);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!signatureValid(options.secret, req.headers[SIGNATURE_HEADER] as string | undefined, body)) {
        options.log.warn({ ip: req.socket.remoteAddress }, 'forwarded call with a bad signature refused');
        return reply(res, 401);
      }
      let call: ForwardedCall;
      try {
        call = v8.deserialize(body) as ForwardedCall;
      } catch {
        return reply(res, 400);
      }
      if (call?.service !== 'sessions' && call?.service !== 'integrations') return reply(res, 400);
      options.serve(call).then(
        (value) => reply(res, 200, { ok: true, value }),
        (error: unknown) => {
          if (error instanceof NotOwner) return reply(res, 200, { ok: false, notOwner: error.message });
          if (error instanceof AppError) {
            return reply(res, 200, { ok: false, error: { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) } });
          }
          options.log.error({ err: error }, 'forwarded call failed');
          reply(res, 200, { ok: false, error: { code: 'INTERNAL_ERROR', message: 'internal error' } });
        },
      );
    });
  };
}
