import Database from 'better-sqlite3';
import { memoryDatabasePath } from '../../workers/memory/database.js';

/** Turns committed so far in the workers' SQLite memory (read-only, beside their WAL writers). */
export function countTurns(dataDir: string): number {
  const db = new Database(memoryDatabasePath(dataDir), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM turns').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * The turn count once writes have stopped: workers commit after the reply's last frame, so the
 * count may trail the load generator by a few milliseconds. Bounded: 20 checks of 100 ms.
 */
export async function settledTurns(dataDir: string): Promise<number> {
  let last = countTurns(dataDir);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = countTurns(dataDir);
    if (now === last) return now;
    last = now;
  }
  return last;
}
