// Who the caller is, as this server sees the token: lets a client check its token and role.
import { z } from 'zod';
import { ROLES } from '../../shared/auth.ts';
import { defineRoute, type AnyRouteSpec } from './routes.ts';

const principalSchema = z
  .object({ principal: z.object({ userId: z.string(), tenantId: z.string(), role: z.enum(ROLES) }) })
  .meta({ id: 'Me' });

export function identityRoutes(): AnyRouteSpec[] {
  return [
    defineRoute({
      method: 'get',
      path: '/me',
      summary: 'Get the caller',
      tags: ['identity'],
      roles: ROLES,
      response: { status: 200, description: 'the verified principal of the token', schema: principalSchema },
      handler: async ({ principal }) => ({ body: { principal } }),
    }),
  ];
}
