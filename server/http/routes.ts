// Routes are declared once, as data: method, path, roles, zod schemas and a handler. The same
// declaration registers the Koa route (role check, input validation) and produces its OpenAPI entry,
// so the documentation cannot drift from what the server accepts.
import type Router from '@koa/router';
import type { z } from 'zod';
import type { Principal, Role } from '../../shared/auth.ts';
import { AppError, fieldIssues } from '../../shared/errors.ts';
import type { Caller } from '../../actors/session/session-actor.ts';
import type { AppContext, AppState } from './context.ts';

export type RouteInput<P, Q, B> = { params: P; query: Q; body: B; principal: Principal; caller: Caller; ctx: AppContext };

export type RouteSpec<P = unknown, Q = unknown, B = unknown> = {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** Koa path under /api/v1, with `:param` segments. */
  path: string;
  summary: string;
  tags: string[];
  roles: readonly Role[];
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The success status and body schema (documentation; tests parse responses with it). */
  response: { status: number; description: string; schema: z.ZodType; alsoStatus?: number[] };
  /** Error codes this route may answer besides the common ones (401, 403, 400). */
  errors?: string[];
  handler(input: RouteInput<P, Q, B>): Promise<{ status?: number; body: unknown }>;
};

// A spec with its types erased, so routes of different shapes fit in one list.
export type AnyRouteSpec = RouteSpec<never, never, never>;

export function defineRoute<P, Q, B>(spec: RouteSpec<P, Q, B>): AnyRouteSpec {
  return spec as unknown as AnyRouteSpec;
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (schema === undefined) return undefined as T;
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError('VALIDATION_FAILED', `invalid ${where}`, { issues: fieldIssues(result.error.issues.map((i) => ({ ...i, path: [where, ...i.path] }))) });
  }
  return result.data;
}

/** Registers the routes on an authenticated router. */
export function mountRoutes(router: Router<AppState>, routes: readonly AnyRouteSpec[]): void {
  for (const route of routes as readonly RouteSpec[]) {
    router[route.method](route.path, async (ctx) => {
      const principal = ctx.state.principal!;
      if (!route.roles.includes(principal.role)) {
        throw new AppError('FORBIDDEN', `role ${principal.role} may not ${route.summary.toLowerCase()}`);
      }
      const params = parse(route.params, ctx.params, 'params');
      const query = parse(route.query, ctx.query, 'query');
      const body = parse(route.body, (ctx.request as { body?: unknown }).body ?? {}, 'body');
      const caller: Caller = { principal, requestId: ctx.state.requestId, ip: ctx.ip };
      const result = await route.handler({ params, query, body, principal, caller, ctx: ctx as AppContext });
      ctx.status = result.status ?? route.response.status;
      ctx.body = result.body;
    });
  }
}
