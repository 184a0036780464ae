// The outbox relay (DESIGN.md invariant 7): one node per cluster reads the unpublished rows of
// `outbox_event` in id order, publishes them to Kafka (topic from the row, key = tenant id, the
// outbox id in a header) and marks them published once Kafka acknowledged them. At least once:
// a row is marked only after its acknowledgement, so a crash, a lost leadership or a failed mark
// sends it again; consumers deduplicate on the event id (or the outbox id).
//
// Why reading in id order gives per-tenant order: SessionStore takes a per-tenant transaction
// lock before it inserts a tenant's outbox rows (PostgreSQL; SQLite runs one write transaction at a
// time), so a tenant's row gets its id only after every earlier event-writing transaction of that
// tenant has committed. Whenever a read sees a tenant's row n, it also sees all that tenant's rows
// below n: publishing what one read returns, in id order, never puts a tenant's later event before
// an earlier one. Other tenants' uncommitted rows may leave gaps in the ids; their rows come in a
// later read, and order between tenants is not promised.
//
// One relay per cluster: on PostgreSQL the node holding a session-level advisory lock on a
// connection of its own is the leader; losing that connection loses the lease, and the others try
// to take it every few seconds. A stale leader (frozen, cut off) can at worst send rows the new
// leader also sends: duplicates, never a reordering, since both send the oldest unpublished rows
// first. On SQLite (embedded, one process) this process is the leader.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { OutboxEvent } from '../db/entities.ts';
import type { Database } from '../db/orm.ts';
import type { KafkaConnection, OutgoingMessage } from '../infra/kafka.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { TOPICS } from './topics.ts';

/** The PostgreSQL advisory lock (single bigint key) the relay leader holds; next to the migration lock. */
export const OUTBOX_RELAY_LOCK = 7_311_005;

export type OutboxRelayOptions = {
  db: Database;
  kafka: Pick<KafkaConnection, 'ensureTopics' | 'publish'>;
  log: Logger;
  metrics: Metrics;
  /** How often the leader looks for new rows when it found none. */
  pollIntervalMs?: number;
  /** How often a follower tries to take the lock, and the leader checks its lock connection. */
  leaderRetryMs?: number;
  /** Rows read per round. */
  batchSize?: number;
  /** Largest sum of payload bytes sent in one produce request (one row larger than this goes alone). */
  maxSendBytes?: number;
};

export type OutboxRelay = {
  /** Look for rows now instead of at the next poll (after a commit that wrote events). */
  wake(): void;
  isLeader(): boolean;
  /** Stops relaying (waits a bounded time for the round in progress) and gives up the leadership. */
  stop(): Promise<void>;
};

const STOP_WAIT_MS = 5_000;

/** Pause after the n-th failed round in a row: 250 ms doubling to 5 s, jittered. */
const backoffMs = (failures: number) => Math.min(250 * 2 ** (failures - 1), 5_000) * (0.5 + Math.random() / 2);

export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { db, kafka, metrics } = options;
  const log = options.log.child({ component: 'outbox-relay' });
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const leaderRetryMs = options.leaderRetryMs ?? 3_000;
  const batchSize = options.batchSize ?? 500;
  const maxSendBytes = options.maxSendBytes ?? 512 * 1024;

  let stopped = false;
  let leader = false;
  // Set when the leadership was lost: the next attempt to take it is skipped.
  let justLost = false;
  const work = new Alarm();
  const stopping = new Alarm();
  const setLeader = (value: boolean) => {
    if (leader === value) return;
    leader = value;
    metrics.outboxRelayLeader.set(value ? 1 : 0);
    if (value) {
      log.info('outbox relay: this node is the leader');
    } else {
      log.warn('outbox relay: leadership lost');
      // The node that just lost its connection is the likely unhealthy one: let the others go first.
      justLost = true;
    }
    work.ring();
  };
  metrics.outboxRelayLeader.set(0);

  const leadership: Leadership =
    db.dialect === 'postgresql' && db.url !== undefined
      ? new AdvisoryLockLeadership(db.url, {
          // The server ends a session idle this long, releasing the lock of a leader cut off from
          // it; the leader's own check (every leaderRetryMs, each under queryTimeoutMs) notices first.
          idleSessionTimeoutMs: Math.max(10_000, 4 * leaderRetryMs),
          queryTimeoutMs: Math.max(1_000, leaderRetryMs),
          onLost: () => setLeader(false),
          log,
        })
      : { tryAcquire: async () => true, stillHeld: async () => true, release: async () => {} };

  const oldestUnpublishedAge = async (): Promise<number> => {
    const oldest = await db.em().findOne(OutboxEvent, { publishedAt: null }, { orderBy: { id: 'asc' }, fields: ['createdAt'] });
    return oldest ? Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000) : 0;
  };

  // Leadership: followers try to take the lock, the leader checks it still holds it.
  const leading = (async () => {
    while (!stopped) {
      try {
        if (leader) {
          if (!(await leadership.stillHeld())) setLeader(false);
        } else if (justLost) {
          justLost = false;
        } else if (await leadership.tryAcquire()) {
          if (!stopped) setLeader(true);
        } else {
          // Followers report the lag too: it is what shows a cluster without a working leader.
          metrics.outboxRelayLagSeconds.set(await oldestUnpublishedAge());
        }
      } catch (error) {
        log.warn({ err: error }, 'outbox relay: leadership check failed');
      }
      await stopping.sleep(leaderRetryMs);
    }
  })();

  /** The oldest unpublished rows, as plain rows (hydrating entities costs several times the query). */
  const readBatch = async (): Promise<OutboxRow[]> => {
    const rows = await db
      .em()
      .createQueryBuilder(OutboxEvent)
      .select(['id', 'tenantId', 'topic', 'type', 'payload', 'createdAt'])
      .where({ publishedAt: null })
      .orderBy({ id: 'asc' })
      .limit(batchSize)
      .execute('all', true);
    // Mapped results skip two conversions: a bigint id stays as the driver returns it (a string on
    // PostgreSQL), and JSON stays text on SQLite.
    return rows.map((row) => ({
      ...row,
      id: Number(row.id),
      payload: typeof row.payload === 'string' ? (JSON.parse(row.payload) as Record<string, unknown>) : row.payload,
    }));
  };

  // Topics known to exist; the first round ensures every topic of topics.ts.
  const ensured = new Set<string>();

  /** One round: reads the oldest unpublished rows, publishes and marks them; true if there may be more. */
  const round = async (stage: { name: 'database' | 'kafka' }): Promise<boolean> => {
    stage.name = 'database';
    const rows = await readBatch();
    metrics.outboxRelayLagSeconds.set(rows[0] ? Math.max(0, (Date.now() - rows[0].createdAt.getTime()) / 1000) : 0);
    if (rows.length === 0) return false;
    const missing = [...new Set([...TOPICS, ...rows.map((row) => row.topic)])].filter((topic) => !ensured.has(topic));
    if (missing.length > 0) {
      stage.name = 'kafka';
      await kafka.ensureTopics(missing);
      for (const topic of missing) ensured.add(topic);
    }
    for (const chunk of chunksOf(rows, maxSendBytes)) {
      // A relay that lost its leadership stops between requests (the new leader sends the rest).
      if (!leader || stopped) return false;
      stage.name = 'kafka';
      await kafka.publish(chunk.map(({ message }) => message));
      stage.name = 'database';
      const ids = chunk.map(({ id }) => id);
      // `publishedAt: null`: a row a stale leader sends again keeps its first publication time.
      await db.em().nativeUpdate(OutboxEvent, { id: { $in: ids }, publishedAt: null }, { publishedAt: new Date() });
      for (const { message } of chunk) metrics.outboxEventsPublished.inc({ topic: message.topic });
    }
    return rows.length === batchSize;
  };

  // Publishing, while this node leads.
  const publishing = (async () => {
    let failures = 0;
    while (!stopped) {
      if (!leader) {
        await work.sleep(leaderRetryMs);
        continue;
      }
      const stage: { name: 'database' | 'kafka' } = { name: 'database' };
      try {
        const more = await round(stage);
        failures = 0;
        if (!more) await work.sleep(pollIntervalMs);
      } catch (error) {
        if (stopped) break;
        failures += 1;
        metrics.outboxPublishFailures.inc({ stage: stage.name });
        const delay = backoffMs(failures);
        log.warn({ err: error, stage: stage.name, failures, retryInMs: Math.round(delay) }, 'outbox relay: round failed; retrying the same rows');
        // Not woken by wake(): a new commit does not bring Kafka back.
        await stopping.sleep(delay);
      }
    }
  })();

  let stopCall: Promise<void> | undefined;
  return {
    wake: () => work.ring(),
    isLeader: () => leader,
    stop: () =>
      (stopCall ??= (async () => {
        stopped = true;
        work.ring();
        stopping.ring();
        // A round blocked in Kafka retries is abandoned after a while: its rows stay unpublished.
        const finished = Promise.allSettled([leading, publishing]);
        await Promise.race([finished, sleep(STOP_WAIT_MS, undefined, { ref: false })]);
        leader = false;
        metrics.outboxRelayLeader.set(0);
        await leadership.release().catch((error: unknown) => log.warn({ err: error }, 'outbox relay: releasing the lock failed'));
      })()),
  };
}

type OutboxRow = Pick<OutboxEvent, 'id' | 'tenantId' | 'topic' | 'type' | 'payload' | 'createdAt'>;

/** The rows as Kafka messages, cut into requests of at most `maxBytes` payload bytes (in order). */
function chunksOf(rows: readonly OutboxRow[], maxBytes: number): { id: number; message: OutgoingMessage }[][] {
  const chunks: { id: number; message: OutgoingMessage }[][] = [];
  let current: { id: number; message: OutgoingMessage }[] = [];
  let bytes = 0;
  for (const row of rows) {
    const value = JSON.stringify(row.payload);
    const size = Buffer.byteLength(value);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    const eventId = row.payload.eventId;
    current.push({
      id: row.id,
      message: {
        topic: row.topic,
        key: row.tenantId,
        value,
        headers: {
          'outbox-id': String(row.id),
          'event-type': row.type,
          ...(typeof eventId === 'string' ? { 'event-id': eventId } : {}),
          'content-type': 'application/json',
        },
      },
    });
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

type Leadership = {
  /** Takes the leadership if it is free; true when this node holds it. */
  tryAcquire(): Promise<boolean>;
  /** Checks that the leadership is still held (its connection answers). */
  stillHeld(): Promise<boolean>;
  release(): Promise<void>;
};

type LockOptions = { idleSessionTimeoutMs: number; queryTimeoutMs: number; onLost: () => void; log: Logger };

/** Leadership = a session-level PostgreSQL advisory lock held on a connection of its own. */
class AdvisoryLockLeadership implements Leadership {
  readonly #url: string;
  readonly #options: LockOptions;
  #client: pg.Client | undefined;
  #held = false;
  #released = false;

  constructor(url: string, options: LockOptions) {
    this.#url = url;
    this.#options = options;
  }

  async tryAcquire(): Promise<boolean> {
    const client = this.#client ?? (await this.#connect());
    try {
      const result = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [OUTBOX_RELAY_LOCK]);
      // The connection may have died while the answer was on its way.
      this.#held = result.rows[0]?.locked === true && this.#client === client;
      return this.#held;
    } catch (error) {
      this.#drop(client);
      throw error;
    }
  }

  async stillHeld(): Promise<boolean> {
    const client = this.#client;
    if (!this.#held || !client) return false;
    try {
      await client.query('select 1');
      return this.#held && this.#client === client;
    } catch (error) {
      this.#options.log.warn({ err: error }, 'outbox relay: the lock connection does not answer');
      this.#drop(client);
      return false;
    }
  }

  async release(): Promise<void> {
    this.#released = true;
    const client = this.#client;
    this.#client = undefined;
    this.#held = false;
    // Ending the session releases its advisory locks.
    await client?.end();
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#url,
      keepAlive: true,
      connectionTimeoutMillis: this.#options.queryTimeoutMs,
      query_timeout: this.#options.queryTimeoutMs,
      application_name: 'glavito-outbox-relay',
    });
    // A dead connection is a lost leadership, noticed at once rather than at the next check.
    client.on('error', (error) => {
      this.#options.log.warn({ err: error }, 'outbox relay: lock connection failed');
      this.#drop(client);
    });
    client.on('end', () => this.#drop(client));
    try {
      await client.connect();
      // PostgreSQL 14+; on older servers a cut-off leader's lock lasts until TCP gives up.
      await client
        .query(`select set_config('idle_session_timeout', $1, false)`, [String(this.#options.idleSessionTimeoutMs)])
        .catch((error: unknown) => this.#options.log.debug({ err: error }, 'outbox relay: idle_session_timeout not supported'));
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    // Released while connecting: this connection must not take the lock.
    if (this.#released) {
      await client.end().catch(() => {});
      throw new Error('the outbox relay has stopped');
    }
    this.#client = client;
    return client;
  }

  #drop(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    const wasHeld = this.#held;
    this.#held = false;
    client.end().catch(() => {});
    if (wasHeld) this.#options.onLost();
  }
}

/** A sleep that ring() ends early; a ring with nobody asleep ends the next sleep at once. */
class Alarm {
  readonly #sleepers = new Set<() => void>();
  #pending = false;

  sleep(ms: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#sleepers.add(done);
    });
  }

  ring(): void {
    if (this.#sleepers.size === 0) this.#pending = true;
    for (const done of [...this.#sleepers]) done();
  }
}
