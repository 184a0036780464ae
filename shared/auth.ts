// Who may call the server: the platform issues JWTs carrying these claims; this server verifies them.
import { z } from 'zod';

export const ROLES = ['owner', 'admin', 'agent', 'viewer', 'ops'] as const;
export type Role = (typeof ROLES)[number];

/** Tenant and user ids as they appear in tokens, rooms, keys and topics. */
export const tenantIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _, at most 64');
export const userIdSchema = z.string().min(1).max(128);

export const tokenClaimsSchema = z.object({
  sub: userIdSchema,
  tenant: tenantIdSchema,
  role: z.enum(ROLES),
});
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;

/** The verified caller of a request or socket. */
export type Principal = { userId: string; tenantId: string; role: Role };
