// What the maintenance commands share: the configuration (or exit 78 naming each bad variable,
// as `npm start` does) and a printable name for the database they work on.
import { ConfigError, loadConfig, redactUrl, type Config } from '../config.ts';

export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(78);
  }
}

/** The database URL without its password, or where the embedded SQLite file lives. */
export function databaseTarget(config: Config): string {
  return config.DATABASE_URL !== undefined ? redactUrl(config.DATABASE_URL) : `SQLite in ${config.dataDir}`;
}
