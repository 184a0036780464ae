// A throwaway single-node Kafka 3.9.1 (KRaft, broker and controller in one JVM) on free loopback
// ports. No Kafka tarball is downloadable on our machines, so the broker's jars come from Maven
// Central once and are cached in .cache/kafka-3.9.1/libs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from './free-port.ts';
import { ensureJava, mavenJars } from './maven.ts';
import { run, spawnService, startInTempDir, type ServiceProcess } from './system.ts';

export interface KafkaService {
  /** host:port, the form KAFKA_BROKERS takes. */
  brokers: string;
  stop(): Promise<void>;
  /**
   * Stops the broker (clean shutdown), waits `downtimeMs`, and starts it again on the same ports
   * and data directory: clients reconnect to the same address and find every acknowledged record.
   */
  restart(downtimeMs?: number): Promise<void>;
}

const KAFKA_VERSION = '3.9.1';

/** The broker's cached jar directory (resolved from Maven Central the first time). */
const kafkaLibs = () =>
  mavenJars({ what: `Kafka ${KAFKA_VERSION}`, pom: 'scripts/kafka/pom.xml', cacheName: `kafka-${KAFKA_VERSION}`, markerJar: `kafka_2.13-${KAFKA_VERSION}.jar` });

/** A Kafka cluster id: 16 random bytes in URL-safe base64 (22 chars), as `StorageTool random-uuid` prints. */
function clusterId(): string {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    // Kafka never issues ids starting with '-', which a command line would read as an option.
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${path.join(dir, 'data')}`,
    // One node: every internal topic has one replica.
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    // Fewer internal partitions than the default 50: creating them is most of a first consumer's wait.
    'offsets.topic.num.partitions=1',
    'transaction.state.log.num.partitions=1',
    'group.initial.rebalance.delay.ms=0',
    'num.partitions=1',
    'auto.create.topics.enable=true',
    '',
  ].join('\n');
}

// Kafka logs at INFO by default, megabytes per run; warnings are what a failed start needs.
const LOG4J_PROPERTIES = [
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  '',
].join('\n');

async function describesCluster(brokers: string): Promise<boolean> {
  const kafka = new Kafka({
    clientId: 'services-ready-check',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0;
  } finally {
    await admin.disconnect();
  }
}

export async function startKafka(): Promise<KafkaService> {
  const libs = await kafkaLibs();
  const java = await ensureJava();
  return startInTempDir('kafka', async (dir, track) => {
    // Both listeners are held at once, so the two ports differ.
    const [port, controllerPort] = await Promise.all([freePort(), freePort()]);
    const propertiesPath = path.join(dir, 'server.properties');
    const log4jPath = path.join(dir, 'log4j.properties');
    await fs.promises.writeFile(propertiesPath, serverProperties(dir, port, controllerPort));
    await fs.promises.writeFile(log4jPath, LOG4J_PROPERTIES);
    const jvmArgs = [`-Dlog4j.configuration=file:${log4jPath}`, '-cp', `${libs}/*`];
    // A one-shot tool: the quick-start JIT and GC flags cut its ~1.2 s to ~0.7 s.
    const oneShot = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'];
    await run(java, [...oneShot, ...jvmArgs, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', propertiesPath], {
      what: 'formatting the Kafka storage',
      cwd: dir,
    });
    const brokers = `127.0.0.1:${port}`;
    const launch = async (): Promise<ServiceProcess> => {
      const server = track(
        spawnService({
          name: 'kafka',
          command: java,
          args: ['-Xmx512m', '-Djava.awt.headless=true', ...jvmArgs, 'kafka.Kafka', propertiesPath],
          logPath: path.join(dir, 'kafka.log'),
          cwd: dir,
        }),
      );
      await server.waitUntilReady(() => describesCluster(brokers), {
        timeoutMs: 60_000,
        what: `kafka on ${brokers} to describe its cluster`,
      });
      return server;
    };
    let server = await launch();
    return {
      brokers,
      restart: async (downtimeMs = 0) => {
        await server.stop();
        await sleep(downtimeMs);
        // `track` makes the new process the one the service's stop() stops.
        server = await launch();
      },
    };
  });
}
