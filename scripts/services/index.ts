// Starts the throwaway services tests and benchmarks need, in parallel, or reuses running ones
// named by TEST_* variables.
import { startGreenMail } from './greenmail.ts';
import { startKafka } from './kafka.ts';
import { startPostgres } from './postgres.ts';
import { startRedis } from './redis.ts';
import { startStripeMock } from './stripe-mock.ts';
import { errorMessage } from './system.ts';

export type ServiceName = 'postgres' | 'redis' | 'kafka' | 'stripe' | 'mail';
export const SERVICE_NAMES: readonly ServiceName[] = ['postgres', 'redis', 'kafka', 'stripe', 'mail'];

/** The variable each service is published under; set beforehand, it names a running service to reuse. */
export const SERVICE_ENV = {
  postgres: 'TEST_DATABASE_URL',
  redis: 'TEST_REDIS_URL',
  kafka: 'TEST_KAFKA_BROKERS',
  stripe: 'TEST_STRIPE_MOCK_URL',
  mail: 'TEST_GREENMAIL_URL',
} as const satisfies Record<ServiceName, string>;

export type ServiceEnv = Partial<Record<(typeof SERVICE_ENV)[ServiceName], string>>;

interface Started {
  /** The value published in the service's variable: a URL (GreenMail's REST API for mail), or host:port for Kafka. */
  value: string;
  stop(): Promise<void>;
}

export type StartOptions = {
  /** PostgreSQL with fsync and synchronous commit on, for benchmarks of durable writes. */
  durablePostgres?: boolean;
};

const starters: Record<ServiceName, (options: StartOptions) => Promise<Started>> = {
  postgres: async (options) => {
    const service = await startPostgres({ durable: options.durablePostgres ?? false });
    return { value: service.url, stop: service.stop };
  },
  redis: async () => {
    const service = await startRedis();
    return { value: service.url, stop: service.stop };
  },
  kafka: async () => {
    const service = await startKafka();
    return { value: service.brokers, stop: service.stop };
  },
  stripe: async () => {
    const service = await startStripeMock();
    return { value: service.url, stop: service.stop };
  },
  mail: async () => {
    const service = await startGreenMail();
    return { value: service.url, stop: service.stop };
  },
};

export interface ServiceTiming {
  name: ServiceName;
  /** Milliseconds from asking to ready; 0 for a reused service. */
  ms: number;
  reused: boolean;
}

export interface Services {
  env: ServiceEnv;
  timings: ServiceTiming[];
  /** Stops what this call started; reused services are left running. */
  stop(): Promise<void>;
}

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

export async function startServices(names: readonly ServiceName[] = SERVICE_NAMES, options: StartOptions = {}): Promise<Services> {
  const unique = [...new Set(names)];
  const results = await Promise.allSettled(
    unique.map(async (name): Promise<Started & ServiceTiming> => {
      const existing = process.env[SERVICE_ENV[name]];
      if (existing !== undefined && existing !== '') return { name, value: existing, ms: 0, reused: true, stop: async () => {} };
      const startedAt = performance.now();
      const service = await starters[name](options);
      return { name, ...service, ms: Math.round(performance.now() - startedAt), reused: false };
    }),
  );

  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const stop = async () => {
    await Promise.all(started.map((service) => service.stop()));
  };

  const failures = results.flatMap((result, index) => (result.status === 'rejected' ? [{ name: unique[index], error: result.reason }] : []));
  if (failures.length > 0) {
    await stop();
    throw new Error(
      `could not start ${failures.map((failure) => failure.name).join(', ')}:\n\n` +
        failures.map((failure) => `[${failure.name}] ${errorMessage(failure.error)}`).join('\n\n'),
    );
  }

  const env: ServiceEnv = {};
  for (const service of started) env[SERVICE_ENV[service.name]] = service.value;
  return {
    env,
    timings: started.map(({ name, ms, reused }) => ({ name, ms, reused })),
    stop,
  };
}

/** One line for logs: "postgres 0.8s, redis 0.1s, kafka 3.1s, stripe 0.3s (reused: ...)". */
export function describeTimings(timings: readonly ServiceTiming[]): string {
  const started = timings.filter((timing) => !timing.reused).map((timing) => `${timing.name} ${(timing.ms / 1000).toFixed(1)}s`);
  const reused = timings.filter((timing) => timing.reused).map((timing) => timing.name);
  return [started.join(', '), reused.length > 0 ? `(reused: ${reused.join(', ')})` : ''].filter(Boolean).join(' ');
}
