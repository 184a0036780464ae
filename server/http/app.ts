// The Koa application: middleware in order, then the routers.
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { TokenVerifier } from '../auth/tokens.ts';
import type { Logger } from '../logger.ts';
import { httpMetrics, type Metrics } from '../metrics.ts';
import { checkReadiness, type DependencyCheck } from '../readiness.ts';
import type { AppState } from './context.ts';
import { authenticate, errorEnvelope, requestContext } from './middleware.ts';
import { mountRoutes, type AnyRouteSpec } from './routes.ts';

export type AppDeps = {
  log: Logger;
  metrics: Metrics;
  verify: TokenVerifier;
  nodeId: string;
  dependencies: readonly DependencyCheck[];
  readinessTimeoutMs: number;
  bodyLimitBytes: number;
  /** Believe X-Forwarded-For/-Proto (only behind a proxy that sets them). */
  trustProxy: boolean;
  /** False once shutdown began: /readyz answers 503 so load balancers drain this node. */
  isAcceptingWork: () => boolean;
  /** The /api/v1 routes (authenticated) and their OpenAPI document. */
  routes: readonly AnyRouteSpec[];
  openApi: Record<string, unknown>;
  /** Inbound provider webhooks: signed over the raw body, so mounted before the JSON body parser. */
  webhooks?: Router<AppState>;
};

export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: deps.trustProxy });

  const ops = new Router<AppState>();
  ops.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', node: deps.nodeId };
  });
  ops.get('/readyz', async (ctx) => {
    const readiness = await checkReadiness(deps.dependencies, deps.readinessTimeoutMs, deps.metrics);
    const accepting = deps.isAcceptingWork();
    ctx.status = readiness.ready && accepting ? 200 : 503;
    ctx.body = { status: !accepting ? 'shutting_down' : readiness.ready ? 'ready' : 'not_ready', node: deps.nodeId, ...readiness };
  });
  ops.get('/metrics', async (ctx) => {
    ctx.type = deps.metrics.registry.contentType;
    ctx.body = await deps.metrics.registry.metrics();
  });
  ops.get('/api/openapi.json', (ctx) => {
    ctx.body = deps.openApi;
  });

  const api = new Router<AppState>({ prefix: '/api/v1' });
  api.use(authenticate(deps.verify));
  mountRoutes(api, deps.routes);

  app.use(requestContext(deps.log));
  app.use(errorEnvelope());
  app.use(httpMetrics(deps.metrics));
  if (deps.webhooks) app.use(deps.webhooks.routes());
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: deps.bodyLimitBytes, encoding: 'utf-8' }));
  app.use(ops.routes());
  app.use(api.routes());
  // A known path with another method: 405 with the Allow header (the error envelope adds the body).
  app.use(api.allowedMethods());
  return app;
}
