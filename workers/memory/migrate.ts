import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as createSessionsAndTurns from './migrations/20261122T0200-create-sessions-and-turns.js';
import * as addToolCallsUserMetadata from './migrations/20261122T1500-add-tool-calls-user-metadata.js';
import * as addTurnsPrivate from './migrations/20261122T1600-add-turns-private.js';
import * as turnDelivery from './migrations/20261202T1600-turn-delivery.js';
import * as memoryProbe from './migrations/20261202T1700-memory-probe.js';
import * as turnsPreviousResponse from './migrations/20261203T0600-add-turns-previous-response.js';
import * as dropTurnsSessionIdId from './migrations/20261203T0601-drop-turns-session-id-id.js';
import * as turnsPendingUntil from './migrations/20261205T1500-add-turns-pending-until.js';
import * as turnsRequestedAt from './migrations/20261205T2100-add-turns-requested-at.js';
import * as turnsRefusal from './migrations/20261207T0700-add-turns-refusal.js';
import * as memoryIdentity from './migrations/20261208T0900-memory-identity.js';

// Listed by hand rather than read from the folder, so the set of migrations is fixed at build
// time and cannot change with the working directory. Names sort by their timestamp prefix.
const migrations: Record<string, Migration> = {
  '20261122T0200-create-sessions-and-turns': createSessionsAndTurns,
  '20261122T1500-add-tool-calls-user-metadata': addToolCallsUserMetadata,
  '20261122T1600-add-turns-private': addTurnsPrivate,
  '20261202T1600-turn-delivery': turnDelivery,
  '20261202T1700-memory-probe': memoryProbe,
  '20261203T0600-add-turns-previous-response': turnsPreviousResponse,
  '20261203T0601-drop-turns-session-id-id': dropTurnsSessionIdId,
  '20261205T1500-add-turns-pending-until': turnsPendingUntil,
  '20261205T2100-add-turns-requested-at': turnsRequestedAt,
  '20261207T0700-add-turns-refusal': turnsRefusal,
  '20261208T0900-memory-identity': memoryIdentity,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Brings the memory database to the latest schema; returns the names of migrations applied. The
 * migrator runs only when one is pending: on PostgreSQL it takes a session-level advisory lock,
 * which a pooler in transaction mode can leave held on a server connection, and every worker start
 * would take it.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  if ((await migrator.getMigrations()).every((migration) => migration.executedAt !== undefined)) return [];
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((result) => result.status === 'Error');
  if (error || failed) {
    throw new Error(
      `memory migration ${failed?.migrationName ?? ''} failed: ` +
        `${(error as Error | undefined)?.message ?? 'unknown error'}`,
      { cause: error },
    );
  }
  return results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
}
