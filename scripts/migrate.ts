import { loadWorkerConfig } from '../workers/config.js';
import { memoryDatabasePath, openMemoryDatabase } from '../workers/memory/database.js';
import { migrateToLatest } from '../workers/memory/migrate.js';

// `npm run migrate`: bring the memory database under DATA_DIR to the latest schema.
const file = memoryDatabasePath(loadWorkerConfig().dataDir);
const db = openMemoryDatabase(file);
try {
  const applied = await migrateToLatest(db);
  process.stdout.write(applied.length > 0 ? `${file}: applied ${applied.join(', ')}\n` : `${file}: up to date\n`);
} finally {
  await db.destroy();
}
