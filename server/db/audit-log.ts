// Reading the audit log and the outbox: always scoped to one tenant, newest first / oldest first.
import type { z } from 'zod';
import type { auditQuerySchema, eventsQuerySchema } from '../../shared/api.ts';
import { AuditEntry, OutboxEvent } from './entities.ts';
import type { Database } from './orm.ts';

export async function listAudit(db: Database, tenantId: string, query: z.output<typeof auditQuerySchema>) {
  const createdAt = {
    ...(query.from !== undefined ? { $gte: new Date(query.from) } : {}),
    ...(query.to !== undefined ? { $lt: new Date(query.to) } : {}),
  };
  const rows = await db.em().find(
    AuditEntry,
    {
      tenantId,
      ...(query.action !== undefined ? { action: query.action } : {}),
      ...(query.actorId !== undefined ? { actorId: query.actorId } : {}),
      ...(query.target !== undefined ? { target: query.target } : {}),
      ...(Object.keys(createdAt).length > 0 ? { createdAt } : {}),
      ...(query.before !== undefined ? { id: { $lt: query.before } } : {}),
    },
    { orderBy: { id: 'desc' }, limit: query.limit + 1 },
  );
  const page = rows.slice(0, query.limit);
  return {
    entries: page.map(({ tenantId: _tenant, ...entry }) => ({ ...entry, id: Number(entry.id) })),
    nextBefore: rows.length > query.limit ? Number(page.at(-1)!.id) : null,
  };
}

export async function listEvents(db: Database, tenantId: string, query: z.output<typeof eventsQuerySchema>) {
  const rows = await db.em().find(
    OutboxEvent,
    { tenantId, id: { $gt: query.after }, ...(query.type !== undefined ? { type: query.type } : {}) },
    { orderBy: { id: 'asc' }, limit: query.limit },
  );
  return {
    events: rows.map(({ tenantId: _tenant, ...event }) => ({ ...event, id: Number(event.id) })),
    nextAfter: rows.length > 0 ? Number(rows.at(-1)!.id) : query.after,
  };
}
