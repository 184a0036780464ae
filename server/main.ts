// `npm start`: load the configuration, start the server, stop gracefully on SIGTERM/SIGINT.
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startServer, StartupError } from './server.ts';

/** sysexits(3) EX_CONFIG: the configuration is wrong, restarting will not help. */
const EXIT_CONFIG = 78;

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(EXIT_CONFIG);
}

const log = createLogger({ level: config.LOG_LEVEL, nodeId: config.NODE_ID });

let server;
try {
  server = await startServer(config, log);
} catch (error) {
  if (!(error instanceof StartupError)) throw error;
  log.fatal(error.message);
  console.error(error.message);
  process.exit(1);
}

const running = server;
let signals = 0;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    log.info({ signal }, 'signal received');
    running.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
process.on('unhandledRejection', (reason) => {
  log.fatal({ err: reason }, 'unhandled promise rejection');
  process.exit(1);
});
