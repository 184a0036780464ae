// The one module that knows kafkajs (unmaintained since 2023: keep a swap a one-file change).
import { Kafka, logLevel, type Admin, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.ts';

export type KafkaConnection = {
  /** Round trip to the cluster (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
};

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function connectKafka(options: { brokers: string[]; clientId: string; log: Logger }): KafkaConnection {
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
        log[LEVELS[level] === 'error' ? 'warn' : (LEVELS[level] ?? 'debug')](rest, message);
      },
  });
  let admin: Admin | undefined;
  let connecting: Promise<Admin> | undefined;

  const connectedAdmin = (): Promise<Admin> => {
    if (admin) return Promise.resolve(admin);
    connecting ??= (async () => {
      const candidate = kafka.admin();
      try {
        await candidate.connect();
        admin = candidate;
        return candidate;
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };

  return {
    async ping() {
      await (await connectedAdmin()).describeCluster();
    },
    async close() {
      await connecting?.catch(() => {});
      await admin?.disconnect();
      admin = undefined;
    },
  };
}
