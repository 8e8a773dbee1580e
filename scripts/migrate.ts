import { loadWorkerConfig } from '../workers/config.js';
import { openMigratedMemory } from '../workers/memory/open.js';

// `npm run migrate`: bring the memory database (SQLite under DATA_DIR, or DATABASE_URL) to the
// latest schema. Running it again applies nothing.
try {
  const { db, at, applied } = await openMigratedMemory(loadWorkerConfig().memory);
  await db.destroy();
  process.stdout.write(applied.length > 0 ? `${at}: applied ${applied.join(', ')}\n` : `${at}: up to date\n`);
} catch (err) {
  process.stderr.write(`npm run migrate: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
