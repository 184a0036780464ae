// The one module that knows kafkajs (unmaintained since 2023: keep a swap a one-file change).
import { Kafka, logLevel, Partitioners, type Admin, type LogEntry, type Producer, type TopicMessages } from 'kafkajs';
import type { Logger } from '../logger.ts';

/** One record to publish: `key` decides the partition, so records of one key keep their order. */
export type OutgoingMessage = { topic: string; key: string; value: string; headers: Record<string, string> };

export type KafkaConnection = {
  /** Round trip to the cluster (readiness). */
  ping(): Promise<void>;
  /** Creates those of `topics` that do not exist yet, with several partitions each. */
  ensureTopics(topics: readonly string[]): Promise<void>;
  /**
   * Sends `messages` through an idempotent producer (acks from all in-sync replicas, one request
   * in flight) and resolves once Kafka acknowledged every one; messages of one topic and key are
   * appended in the order given. Not for concurrent callers. A failed send throws after kafkajs'
   * own retries, and the producer is replaced: the next call gets a new producer id, so a batch the
   * broker may have half-written comes again as duplicates, never as a sequence error.
   */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
};

export type KafkaOptions = {
  brokers: string[];
  clientId: string;
  log: Logger;
  /** Partitions of each topic ensureTopics creates. */
  topicPartitions?: number;
  /** `max.message.bytes` of each topic ensureTopics creates (a whole record batch must fit). */
  topicMaxMessageBytes?: number;
};

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/** A kafkajs client connected on first use and shared by the calls that follow. */
function lazilyConnected<T extends { connect(): Promise<void>; disconnect(): Promise<void> }>(create: () => T) {
  let client: T | undefined;
  let connecting: Promise<T> | undefined;
  return {
    get(): Promise<T> {
      if (client) return Promise.resolve(client);
      connecting ??= (async () => {
        const candidate = create();
        try {
          await candidate.connect();
          client = candidate;
          return candidate;
        } catch (error) {
          await candidate.disconnect().catch(() => {});
          throw error;
        } finally {
          connecting = undefined;
        }
      })();
      return connecting;
    },
    async close(): Promise<void> {
      await connecting?.catch(() => {});
      const current = client;
      client = undefined;
      await current?.disconnect();
    },
  };
}

export function connectKafka(options: KafkaOptions): KafkaConnection {
  const log = options.log.child({ component: 'kafka' });
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 2, initialRetryTime: 200 },
    logLevel: logLevel.WARN,
    // kafkajs logs connection errors at ERROR while it retries; they are expected during a broker
    // outage and reported by /readyz, so they go to our log as warnings.
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // Said of every idempotent producer with bounded retries. Ours are bounded on purpose: a failed
        // send replaces the producer (see publish), so the ordering is kept by the caller resending.
        if (message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') return;
        log[LEVELS[level] === 'error' ? 'warn' : (LEVELS[level] ?? 'debug')](rest, message);
      },
  });
  const admin = lazilyConnected<Admin>(() => kafka.admin());
  const producer = lazilyConnected<Producer>(() =>
    kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // Java-compatible murmur2 on the key: Java clients compute the same partition for a tenant.
      createPartitioner: Partitioners.DefaultPartitioner,
      // Topics are created by ensureTopics with their partition count, never by a first send.
      allowAutoTopicCreation: false,
      // kafkajs' own backoff for one send; the caller backs off between failed sends.
      retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
    }),
  );
  const partitions = options.topicPartitions ?? 6;
  const maxMessageBytes = options.topicMaxMessageBytes ?? 8 * 1024 * 1024;
  let closed = false;

  return {
    async ping() {
      await (await admin.get()).describeCluster();
    },
    async ensureTopics(topics) {
      const client = await admin.get();
      const existing = new Set(await client.listTopics());
      const missing = [...new Set(topics)].filter((topic) => !existing.has(topic));
      if (missing.length === 0) return;
      // Another node creating the same topic at the same time is fine: kafkajs ignores TOPIC_ALREADY_EXISTS.
      await client.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: partitions,
          configEntries: [{ name: 'max.message.bytes', value: String(maxMessageBytes) }],
        })),
      });
      log.info({ topics: missing, partitions }, 'kafka topics created');
    },
    async publish(messages) {
      if (closed) throw new Error('the Kafka connection is closed');
      if (messages.length === 0) return;
      const byTopic = new Map<string, TopicMessages>();
      for (const { topic, key, value, headers } of messages) {
        let entry = byTopic.get(topic);
        if (!entry) byTopic.set(topic, (entry = { topic, messages: [] }));
        entry.messages.push({ key, value, headers });
      }
      const client = await producer.get();
      try {
        await client.sendBatch({ acks: -1, topicMessages: [...byTopic.values()] });
      } catch (error) {
        await producer.close().catch(() => {});
        throw error;
      }
    },
    async close() {
      closed = true;
      await Promise.allSettled([admin.close(), producer.close()]);
    },
  };
}
