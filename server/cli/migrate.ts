// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded SQLite file).
import { ConfigError, loadConfig, redactUrl } from '../config.ts';
import { migrate, openDatabase } from '../db/orm.ts';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(78);
}

const target = config.DATABASE_URL !== undefined ? redactUrl(config.DATABASE_URL) : `SQLite in ${config.dataDir}`;
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir });
try {
  const applied = await migrate(db);
  console.log(applied.length === 0 ? `${target}: up to date` : `${target}: applied ${applied.join(', ')}`);
} finally {
  await db.close();
}
