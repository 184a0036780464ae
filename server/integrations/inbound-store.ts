// The inbound message queue: messages received by webhooks (WhatsApp, Instagram, Stripe events,
// email), stored once each in `inbound_message` until a consumer processes them.
//
// Providers redeliver (Meta and Stripe retry until they get a 2xx, and may deliver twice anyway), so
// a message is identified by (tenant, channel, externalId) and inserted with insert-or-ignore: one
// `insert … on conflict (tenant_id, channel, external_id) do nothing` statement per batch, atomic on both
// PostgreSQL and SQLite; a redelivery counts as a duplicate, never as an error. The insert runs
// before the webhook is answered, so an acknowledged message is durable.
//
// Bounds, checked per item: externalId 1..256 characters (the column), payload ≤ 64 KiB as JSON.
// An item out of bounds is skipped and counted as `rejected` (the rest of the batch is stored): a
// provider's batch must not be refused, and so redelivered forever, because of one odd item.
import type { Database } from '../db/orm.ts';
import { InboundMessage } from '../db/entities.ts';

export const INBOUND_CHANNELS = ['whatsapp', 'instagram', 'stripe', 'email'] as const;
export type InboundChannel = (typeof INBOUND_CHANNELS)[number];

export const MAX_EXTERNAL_ID_CHARS = 256;
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** The most rows one `pending` call returns. */
export const MAX_PENDING = 500;

export type InboundItem = { tenantId: string; channel: InboundChannel; externalId: string; payload: Record<string, unknown> };
export type EnqueueResult = { stored: number; duplicates: number; rejected: number };
export type InboundRecord = InboundItem & { id: number; receivedAt: Date };

function withinBounds(item: InboundItem): boolean {
  if (item.externalId.length === 0 || item.externalId.length > MAX_EXTERNAL_ID_CHARS) return false;
  if (item.tenantId.length === 0 || item.tenantId.length > 64) return false;
  return Buffer.byteLength(JSON.stringify(item.payload), 'utf8') <= MAX_PAYLOAD_BYTES;
}

export class InboundStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Stores each message once; a (tenant, channel, externalId) already stored is a duplicate. */
  async enqueue(messages: readonly InboundItem[]): Promise<EnqueueResult> {
    const valid = messages.filter(withinBounds);
    const rejected = messages.length - valid.length;
    // The same message twice in one batch is a duplicate too (dropped here rather than left to the
    // database, so the count is exact on both dialects).
    const seen = new Set<string>();
    const unique = valid.filter((item) => {
      const key = `${item.tenantId}\u0000${item.channel}\u0000${item.externalId}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (unique.length === 0) return { stored: 0, duplicates: valid.length, rejected };
    const receivedAt = new Date();
    const result = await this.#db
      .em()
      .createQueryBuilder(InboundMessage)
      .insert(unique.map((item) => ({ ...item, receivedAt, processedAt: null })))
      .onConflict(['tenantId', 'channel', 'externalId'])
      .ignore()
      .execute('run');
    const stored = result.affectedRows;
    return { stored, duplicates: valid.length - stored, rejected };
  }

  /** The tenant's unprocessed messages, oldest first (at most `limit`, capped at MAX_PENDING). */
  async pending(tenantId: string, limit = 100): Promise<InboundRecord[]> {
    const rows = await this.#db
      .em()
      .find(InboundMessage, { tenantId, processedAt: null }, { orderBy: { id: 'asc' }, limit: Math.max(1, Math.min(Math.trunc(limit) || 1, MAX_PENDING)) });
    return rows.map((row) => ({
      id: row.id,
      tenantId: row.tenantId,
      channel: row.channel as InboundChannel,
      externalId: row.externalId,
      payload: row.payload,
      receivedAt: row.receivedAt,
    }));
  }

  /** Marks the tenant's messages `ids` processed; returns how many changed (others' ids never match). */
  async markProcessed(tenantId: string, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.#db.em().nativeUpdate(InboundMessage, { tenantId, id: { $in: [...ids] }, processedAt: null }, { processedAt: new Date() });
  }
}
