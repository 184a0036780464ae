// Cross-cutting HTTP middleware, one job each: request id + access log, the error envelope,
// authentication.
import crypto from 'node:crypto';
import type { Middleware } from 'koa';
import { AppError, type ErrorCode } from '../../shared/errors.ts';
import { bearerToken, type TokenVerifier } from '../auth/tokens.ts';
import type { Logger } from '../logger.ts';
import type { AppState } from './context.ts';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Tags each request with an id (the caller's `X-Request-Id` when sane) and logs it on the way out. */
export function requestContext(log: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ reqId: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const entry = { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) };
      if (ctx.status >= 500) ctx.state.log.warn(entry, 'request failed');
      else ctx.state.log.debug(entry, 'request');
    }
  };
}

/** Koa/http errors that carry a status (body parser, etc.) mapped to our codes. */
const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'AUTH_TOKEN_INVALID',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'SERVICE_UNAVAILABLE',
};

/**
 * Every error leaves as `{ error: { code, message, details } }` with its status. Unexpected errors
 * are logged here with their stack and answered with a bare INTERNAL_ERROR: never a stack trace.
 */
export function errorEnvelope(): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new AppError('NOT_FOUND', `no route for ${ctx.method} ${ctx.path}`);
      }
      // The router answered 405 (and set Allow) without a body.
      if (ctx.status === 405 && !ctx.body) {
        throw new AppError('METHOD_NOT_ALLOWED', `${ctx.path} does not take ${ctx.method}; it takes ${ctx.response.get('allow') || 'other methods'}`);
      }
    } catch (error) {
      const appError = toAppError(error);
      if (appError.code === 'INTERNAL_ERROR') ctx.state.log.error({ err: error }, 'unhandled error');
      ctx.status = appError.status;
      ctx.body = appError.toBody();
    }
  };
}

function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const status = (error as { status?: unknown; expose?: unknown }).status;
  if (typeof status === 'number' && status < 500 && STATUS_CODES[status] !== undefined) {
    // http-errors marks 4xx messages as safe to show.
    const message = (error as { expose?: boolean }).expose ? (error as Error).message : 'request refused';
    return new AppError(STATUS_CODES[status], message);
  }
  return new AppError('INTERNAL_ERROR', 'internal error');
}

/** Requires a valid bearer token and puts the verified principal on `ctx.state`. */
export function authenticate(verify: TokenVerifier): Middleware<AppState> {
  return async (ctx, next) => {
    const token = bearerToken(ctx.get('authorization') || undefined);
    if (token === undefined) throw new AppError('AUTH_TOKEN_MISSING', 'send Authorization: Bearer <token>');
    ctx.state.principal = await verify(token);
    await next();
  };
}
