// `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded SQLite file).
import { migrate, openDatabase } from '../db/orm.ts';
import { databaseTarget, loadConfigOrExit } from './cli-config.ts';

const config = loadConfigOrExit();
const target = databaseTarget(config);
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir });
try {
  const applied = await migrate(db);
  console.log(applied.length === 0 ? `${target}: up to date` : `${target}: applied ${applied.join(', ')}`);
} finally {
  await db.close();
}
