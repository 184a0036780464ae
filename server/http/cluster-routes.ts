// Ops view of the cluster (REDIS_URL): nodes, shards, owners and fencing epochs, read from Redis at
// the time of the request. Only the ops role, which is not tied to any tenant's data.
import { z } from 'zod';
import type { RedisPlacement } from '../../actors/cluster/redis-placement.ts';
import { sessionParamsSchema } from '../../shared/api.ts';
import { AppError } from '../../shared/errors.ts';
import { defineRoute, type AnyRouteSpec } from './routes.ts';

const clusterViewSchema = z
  .object({
    node: z.string().describe('the node that answered'),
    shardCount: z.int(),
    leaseTtlMs: z.int(),
    nodes: z.array(
      z.object({ id: z.string(), url: z.string(), self: z.boolean(), startedAt: z.string(), expiresInMs: z.number().describe('until its heartbeat expires') }),
    ),
    shards: z.array(
      z.object({ shard: z.int(), owner: z.string().nullable(), epoch: z.int().nullable(), expiresInMs: z.number().nullable().describe('until the lease expires') }),
    ),
  })
  .meta({ id: 'ClusterView' });

const sessionPlacementSchema = z
  .object({ sessionId: z.uuid(), shard: z.int(), owner: z.string().nullable(), epoch: z.int().nullable() })
  .meta({ id: 'SessionPlacement' });

/** The ops view is read from Redis: while Redis is unreachable it is 503, not a server error. */
async function fromRedis<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new AppError('SERVICE_UNAVAILABLE', `the cluster state cannot be read from Redis: ${(error as Error).message}`, { retryable: true });
  }
}

export function clusterRoutes(placement: RedisPlacement): AnyRouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/ops/cluster',
      summary: 'Get the cluster placement',
      tags: ['ops'],
      roles: ['ops'],
      response: { status: 200, description: 'live nodes, and every shard with its owner and fencing epoch', schema: clusterViewSchema },
      errors: ['SERVICE_UNAVAILABLE'],
      handler: async () => ({ body: await fromRedis(() => placement.view()) }),
    }),
    defineRoute({
      method: 'get',
      path: '/ops/cluster/sessions/:sessionId',
      summary: 'Get where a session is served',
      tags: ['ops'],
      roles: ['ops'],
      params: sessionParamsSchema,
      response: { status: 200, description: 'the shard of the session, its owner and epoch (null while unowned)', schema: sessionPlacementSchema },
      errors: ['SERVICE_UNAVAILABLE'],
      handler: async ({ params }) => {
        const { shard, lease } = await fromRedis(() => placement.lookup(params.sessionId));
        return { body: { sessionId: params.sessionId, shard, owner: lease?.owner ?? null, epoch: lease?.epoch ?? null } };
      },
    }),
  ];
}
