import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { memoryDatabasePath } from '../../workers/memory/database.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { ABANDONED_SWEEP_MARGIN_MS, commitTurn, findTurn, sweepPendingTurns } from '../../workers/memory/delivery.js';
import { redactDatabaseUrl, type MemorySettings } from '../../workers/memory/settings.js';
import { lookupSession } from '../../workers/memory/sessions.js';
import { deleteStoredTurn, storedTurn } from '../../workers/memory/stored-turns.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { recordTurn, type NewTurn } from '../../workers/memory/turns.js';
import { startTestPostgres } from '../helpers/postgres.js';

// The stored-response reads and deletes (the Responses API's GET and DELETE), and the sweep of
// stale pending turns, on both memory dialects: a real SQLite file and a private PostgreSQL server.
const postgres = await startTestPostgres();
t.teardown(() => postgres.dispose());
const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-stored-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

// The subtests of a dialect share its database (created once).
const once = <T>(make: () => Promise<T>) => {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
};

const dialects: Array<[string, () => Promise<MemorySettings>]> = [
  ['sqlite', async () => ({ dialect: 'sqlite', dataDir, file: memoryDatabasePath(dataDir) })],
  [
    'postgres',
    once(async () => {
      const url = await postgres.createDatabase('stored_turns');
      return { dialect: 'postgres', url, shownUrl: redactDatabaseUrl(url), poolSize: 2, preparedStatements: true };
    }),
  ],
];

const turn = (requestId: string, tenant: string): NewTurn => ({
  requestId,
  sessionId: `conv_${tenant}`,
  tenant,
  agent: 'documentation',
  model: 'llama3.2',
  inputMessages: [{ role: 'user', content: 'Weather?' }],
  assistantResponse: '',
  toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }],
  finishReason: 'tool_calls',
  cached: false,
  promptTokens: 3,
  completionTokens: 4,
  durationMs: 5,
  private: false,
  metadata: { team: 'qa' },
});

// A pending turn `requestId` in `sessionId`, written (with its session) at `at`, given row `id`.
const stalePending = async (db: Kysely<MemoryDatabase>, requestId: string, sessionId: string, at: Date, id: number) => {
  await recordTurn(db, { ...turn(requestId, 'tenant-s'), sessionId }, 'pending');
  const then = at.toISOString();
  await db.updateTable('turns').set({ created_at: then, id }).where('request_id', '=', requestId).execute();
  await db.updateTable('sessions').set({ updated_at: then }).where('id', '=', sessionId).execute();
};

const sessionExists = async (db: Kysely<MemoryDatabase>, id: string) =>
  (await db.selectFrom('sessions').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;

// Fails every delete of session `conv_crash`: as a crash between a sweep step's two deletes.
const crashOnSessionDelete = async (name: string, db: Kysely<MemoryDatabase>) => {
  if (name === 'sqlite') {
    await sql`create trigger sweep_crash before delete on sessions when old.id = 'conv_crash'
      begin select raise(abort, 'crash between the deletes'); end`.execute(db);
    return () => sql`drop trigger sweep_crash`.execute(db);
  }
  await sql`create function sweep_crash() returns trigger language plpgsql as $$ begin
      if old.id = 'conv_crash' then raise exception 'crash between the deletes'; end if;
      return old;
    end $$`.execute(db);
  await sql`create trigger sweep_crash before delete on sessions
    for each row execute function sweep_crash()`.execute(db);
  return async () => {
    await sql`drop trigger sweep_crash on sessions`.execute(db);
    await sql`drop function sweep_crash()`.execute(db);
  };
};

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof AgentbusError ? err.code : String(err)),
  );

for (const [name, settings] of dialects) {
  t.test(`${name}: a tenant reads and deletes its own committed turns only`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    t.ok(await recordTurn(db, turn('resp_a1', 'tenant-a')));
    t.ok(await recordTurn(db, turn('resp_b1', 'tenant-b')));
    const read = await storedTurn(db, 'resp_a1', 'tenant-a');
    t.match(read, {
      request_id: 'resp_a1',
      session_id: 'conv_tenant-a',
      input_messages: [{ role: 'user', content: 'Weather?' }],
      tool_calls: [{ id: 'call_1', function: { name: 'get_weather' } }],
      finish_reason: 'tool_calls',
      metadata: { team: 'qa' },
    });
    t.ok(read.created_at > 1_700_000_000, 'seconds since the epoch');
    t.notOk('previous_response_id' in read, 'a turn asked without previous_response_id has none');
    t.ok(await recordTurn(db, { ...turn('resp_a2', 'tenant-a'), previousResponseId: 'resp_a1' }));
    t.equal((await storedTurn(db, 'resp_a2', 'tenant-a')).previous_response_id, 'resp_a1', 'kept with the turn');
    t.equal(await codeOf(storedTurn(db, 'resp_b1', 'tenant-a')), 'response_not_found', "another tenant's");
    t.equal(await codeOf(storedTurn(db, 'resp_none', 'tenant-a')), 'response_not_found', 'a missing one');
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_b1', 'tenant-a')), 'response_not_found');
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_a1', 'tenant-a')), 'resolved');
    t.equal(await codeOf(storedTurn(db, 'resp_a1', 'tenant-a')), 'response_not_found', 'gone');
    t.equal((await storedTurn(db, 'resp_b1', 'tenant-b')).request_id, 'resp_b1', 'the other tenant keeps its own');
  });

  t.test(`${name}: a refusal is read back apart, from a pending write too`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const refused = { assistantResponse: 'I cannot help.', refusal: 'I cannot help.', toolCalls: [] };
    t.ok(await recordTurn(db, { ...turn('resp_r1', 'tenant-r'), ...refused }));
    t.match(await storedTurn(db, 'resp_r1', 'tenant-r'), {
      assistant_response: 'I cannot help.',
      refusal: 'I cannot help.',
    });
    // PostgreSQL writes a pending turn in a statement of its own (postgres-turn-writes.ts).
    t.ok(await recordTurn(db, { ...turn('resp_r2', 'tenant-r'), ...refused }, 'pending'));
    t.ok(await commitTurn(db, 'resp_r2', 'conv_tenant-r'));
    t.equal((await storedTurn(db, 'resp_r2', 'tenant-r')).refusal, 'I cannot help.');
    t.ok(await recordTurn(db, turn('resp_r3', 'tenant-r')));
    t.notOk('refusal' in (await storedTurn(db, 'resp_r3', 'tenant-r')), 'none unless refused');
  });

  t.test(`${name}: a NUL in the question, answer or user is kept as U+FFFD, not a failed write`, async (t) => {
    // PostgreSQL refuses U+0000 in any text (22021): a client's "\u0000" failed the whole request there.
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const nul = {
      ...turn('resp_nul', 'tenant-n'),
      inputMessages: [{ role: 'user' as const, content: 'a\u0000b' }],
      assistantResponse: 'c\u0000d',
      endUser: 'u\u0000',
    };
    t.ok(await recordTurn(db, nul));
    const row = await db
      .selectFrom('turns')
      .select(['user_input', 'assistant_response', 'end_user', 'input_messages'])
      .where('request_id', '=', 'resp_nul')
      .executeTakeFirstOrThrow();
    t.same([row.user_input, row.assistant_response, row.end_user], ['a\uFFFDb', 'c\uFFFDd', 'u\uFFFD']);
    t.same(JSON.parse(row.input_messages), [{ role: 'user', content: 'a\u0000b' }], 'JSON keeps the escape');
  });

  t.test(`${name}: a fan-out response reads as what its client got, as closely as memory holds it`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const part = async (id: string, text: string) =>
      t.ok(await recordTurn(db, { ...turn(id, 'tenant-g'), assistantResponse: text, toolCalls: [] }));
    await part('resp_g1', 'first agent');
    await part('resp_g1.reviewer', 'second agent');
    t.match(await storedTurn(db, 'resp_g1', 'tenant-g'), { request_id: 'resp_g1', assistant_response: 'first agent' });
    await part('resp_g1.aggregate', 'synthesis');
    t.match(
      await storedTurn(db, 'resp_g1', 'tenant-g'),
      { request_id: 'resp_g1', assistant_response: 'synthesis' },
      "the aggregator's synthesis was the answer",
    );
    await part('resp_g2.reviewer', 'only the second');
    t.match(
      await storedTurn(db, 'resp_g2', 'tenant-g'),
      { request_id: 'resp_g2', assistant_response: 'only the second' },
      'its first part failed: the part stored',
    );
    t.equal(await codeOf(storedTurn(db, 'resp_g1.reviewer', 'tenant-g')), 'response_not_found', "a part's own id");
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_g1.reviewer', 'tenant-g')), 'response_not_found');
    t.equal(await codeOf(storedTurn(db, 'resp_g1', 'tenant-h')), 'response_not_found', "another tenant's");
  });

  t.test(`${name}: deleting a fan-out response deletes every part, so nothing names the conversation`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    for (const id of ['resp_f1', 'resp_f1.writer', 'resp_f1.aggregate', 'resp_f10', 'resp_f2'])
      t.ok(await recordTurn(db, turn(id, 'tenant-f')));
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_f1', 'tenant-f')), 'resolved');
    const left = await db.selectFrom('turns').select('request_id').where('session_id', '=', 'conv_tenant-f').execute();
    t.same(left.map((row) => row.request_id).sort(), ['resp_f10', 'resp_f2'], 'another id sharing its prefix stays');
    t.equal((await lookupSession(db, 'resp_f1'))?.id, undefined, 'no part left to continue the conversation by');
    // Its first part failed: the other parts are the response, and deleting it deletes them.
    t.ok(await recordTurn(db, turn('resp_f3.writer', 'tenant-f')));
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_f3', 'tenant-f')), 'resolved');
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_f3', 'tenant-f')), 'response_not_found', 'gone');
    // A part still pending its receipt goes too: committed after the delete, it would bring the response back.
    t.ok(await recordTurn(db, turn('resp_f4', 'tenant-f')));
    t.ok(await recordTurn(db, turn('resp_f4.writer', 'tenant-f'), 'pending'));
    t.equal(await codeOf(deleteStoredTurn(db, 'resp_f4', 'tenant-f')), 'resolved');
    t.notOk(await commitTurn(db, 'resp_f4.writer', 'conv_tenant-f'), 'its late receipt commits nothing');
    t.equal(await codeOf(storedTurn(db, 'resp_f4', 'tenant-f')), 'response_not_found');
  });

  t.test(`${name}: a stored response keeps the created_at its request was accepted at`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    // Accepted a minute before the answer was stored: GET must repeat the POST's created_at.
    const accepted = Date.now() - 60_500;
    t.ok(await recordTurn(db, { ...turn('resp_at1', 'tenant-t'), requestedAt: accepted }));
    t.equal((await storedTurn(db, 'resp_at1', 'tenant-t')).created_at, Math.floor(accepted / 1000), 'committed');
    t.ok(await recordTurn(db, { ...turn('resp_at2', 'tenant-t'), requestedAt: accepted }, 'pending'));
    t.ok(await commitTurn(db, 'resp_at2', 'conv_tenant-t'));
    t.equal((await storedTurn(db, 'resp_at2', 'tenant-t')).created_at, Math.floor(accepted / 1000), 'pending first');
    t.ok(await recordTurn(db, turn('resp_at3', 'tenant-t')));
    t.ok(
      Math.abs((await storedTurn(db, 'resp_at3', 'tenant-t')).created_at - Date.now() / 1000) < 60,
      'a turn without the time (written before the column) reads when it was stored',
    );
  });

  t.test(`${name}: the sweep deletes stale pending turns and the sessions they alone made`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const stale = new Date('2026-01-01T00:00:00.000Z');
    const pending = async (requestId: string, sessionId: string, at?: Date) => {
      t.ok(await recordTurn(db, { ...turn(requestId, 'tenant-s'), sessionId }, 'pending'));
      if (!at) return;
      // As if written then: the turn's write stamps its session too.
      const then = at.toISOString();
      await db.updateTable('turns').set({ created_at: then }).where('request_id', '=', requestId).execute();
      await db.updateTable('sessions').set({ updated_at: then }).where('id', '=', sessionId).execute();
    };
    await pending('sweep_alone', 'conv_alone', stale);
    t.ok(await recordTurn(db, { ...turn('sweep_kept', 'tenant-s'), sessionId: 'conv_mixed' }), 'committed');
    await pending('sweep_mixed', 'conv_mixed', stale);
    await pending('sweep_recent', 'conv_recent');
    // A turn whose id lies in a later step of the sweep's id ranges.
    await db.updateTable('turns').set({ id: 45_000 }).where('request_id', '=', 'sweep_mixed').execute();
    // A session that only a stale turn wrote into, but that was touched since (another request
    // writing into it at that moment): it stays.
    await pending('sweep_touched', 'conv_touched', stale);
    await db
      .updateTable('sessions')
      .set({ updated_at: new Date().toISOString() })
      .where('id', '=', 'conv_touched')
      .execute();
    t.equal(await sweepPendingTurns(db, new Date('2026-01-01T02:00:00.000Z')), 3);
    t.equal(await findTurn(db, 'sweep_alone'), undefined);
    t.equal(await findTurn(db, 'sweep_mixed'), undefined);
    t.equal((await findTurn(db, 'sweep_kept'))?.state, 'committed', 'a committed turn stays, however old');
    t.equal((await findTurn(db, 'sweep_recent'))?.state, 'pending', 'a turn that may still be delivered stays');
    const sessions = await db
      .selectFrom('sessions')
      .select('id')
      .where('tenant', '=', 'tenant-s')
      .orderBy('id')
      .execute();
    t.same(
      sessions.map((s) => s.id),
      ['conv_mixed', 'conv_recent', 'conv_touched'],
      'the session the swept turn alone made goes; one with history, or touched since, stays',
    );
    t.equal(await sweepPendingTurns(db, new Date('2026-01-01T02:00:00.000Z')), 0, 'again: nothing');
  });

  t.test(`${name}: a pending turn past its pending_until by the margin is swept however young`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const now = Date.now();
    const written = new Date(now - 2 * ABANDONED_SWEEP_MARGIN_MS);
    const pendingUntil = async (requestId: string, sessionId: string, until: number, id: number) => {
      await stalePending(db, requestId, sessionId, written, id);
      await db.updateTable('turns').set({ pending_until: until }).where('request_id', '=', requestId).execute();
    };
    await pendingUntil('left_turn', 'conv_left', now - ABANDONED_SWEEP_MARGIN_MS - 1, 71_000);
    await pendingUntil('late_turn', 'conv_late', now - ABANDONED_SWEEP_MARGIN_MS + 1, 71_001);
    const nothingOld = new Date(now - 3_600_000 * 24);
    t.equal(await sweepPendingTurns(db, nothingOld, undefined, now), 1);
    t.equal(await findTurn(db, 'left_turn'), undefined, 'its worker died: nobody commits it any more');
    t.notOk(await sessionExists(db, 'conv_left'), 'and the session it alone made goes: its id is a 404 again');
    t.equal((await findTurn(db, 'late_turn'))?.state, 'pending', 'a memory.commit resend may still come');
    t.ok(await sessionExists(db, 'conv_late'));
    await db.deleteFrom('turns').where('request_id', '=', 'late_turn').execute();
  });

  t.test(`${name}: a session a later request touched outlives its last turn's sweep, not the next`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const now = Date.now();
    await stalePending(db, 'first_cut', 'conv_retouched', new Date(now - 3 * ABANDONED_SWEEP_MARGIN_MS), 72_000);
    await db
      .updateTable('turns')
      .set({ pending_until: now - 2 * ABANDONED_SWEEP_MARGIN_MS })
      .where('request_id', '=', 'first_cut')
      .execute();
    // The client sent the id again: its request touched the session, and its answer was discarded.
    await db
      .updateTable('sessions')
      .set({ updated_at: new Date(now).toISOString() })
      .where('id', '=', 'conv_retouched')
      .execute();
    t.equal(await sweepPendingTurns(db, new Date(0), undefined, now), 1);
    t.ok(await sessionExists(db, 'conv_retouched'), 'touched within the margin: kept by this sweep');
    const later = now + 2 * ABANDONED_SWEEP_MARGIN_MS;
    t.equal(await sweepPendingTurns(db, new Date(0), undefined, later), 0, 'no turn left to lead it there');
    t.notOk(await sessionExists(db, 'conv_retouched'), 'the next sweep finds the empty session itself');
  });

  t.test(`${name}: a stop ends the sweep after the step under way; the next sweep takes the rest`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const stale = new Date('2026-01-01T00:00:00.000Z');
    const cutoff = new Date('2026-01-01T02:00:00.000Z');
    // Steps take 20,000 turn ids each: one stale turn in the first step, one in the second.
    await stalePending(db, 'stop_first', 'conv_stop_first', stale, 15_000);
    await stalePending(db, 'stop_second', 'conv_stop_second', stale, 35_000);
    t.equal(await sweepPendingTurns(db, cutoff, AbortSignal.abort()), 0, 'stopped before it began: no step');
    const stop = new AbortController();
    // The first step's turn DELETE answers with the sessions it took: the stop comes mid-step.
    const watched = db.withPlugin({
      transformQuery: (args) => args.node,
      transformResult: async ({ result }) => {
        if (result.rows.some((row) => typeof row === 'object' && row !== null && 'session_id' in row)) stop.abort();
        return result;
      },
    });
    t.equal(await sweepPendingTurns(watched, cutoff, stop.signal), 1, 'the step under way ends, no other begins');
    t.equal(await findTurn(db, 'stop_first'), undefined);
    t.notOk(await sessionExists(db, 'conv_stop_first'), 'its session went in the same step');
    t.equal((await findTurn(db, 'stop_second'))?.state, 'pending', 'left for the next start');
    t.ok(await sessionExists(db, 'conv_stop_second'));
    t.equal(await sweepPendingTurns(db, cutoff), 1, 'the next sweep takes the rest');
    t.equal(await findTurn(db, 'stop_second'), undefined);
    t.notOk(await sessionExists(db, 'conv_stop_second'));
  });

  t.test(`${name}: a sweep step deletes its turns and their sessions together or not at all`, async (t) => {
    const { db } = await openMigratedMemory(await settings());
    t.teardown(() => db.destroy());
    const stale = new Date('2026-01-01T00:00:00.000Z');
    const cutoff = new Date('2026-01-01T02:00:00.000Z');
    await stalePending(db, 'crash_turn', 'conv_crash', stale, 55_000);
    await stalePending(db, 'crash_other', 'conv_crash_other', stale, 55_001);
    const repair = await crashOnSessionDelete(name, db);
    t.match(await codeOf(sweepPendingTurns(db, cutoff)), /crash between the deletes/, 'the step fails');
    t.equal((await findTurn(db, 'crash_turn'))?.state, 'pending', 'its turn delete was rolled back');
    t.equal((await findTurn(db, 'crash_other'))?.state, 'pending', 'as was the rest of the step');
    t.ok(await sessionExists(db, 'conv_crash'), 'the session stays with its turn: no empty session is left');
    t.ok(await sessionExists(db, 'conv_crash_other'));
    await repair();
    t.equal(await sweepPendingTurns(db, cutoff), 2, 'a later sweep finds both again');
    t.equal(await findTurn(db, 'crash_turn'), undefined);
    t.notOk(await sessionExists(db, 'conv_crash'), 'and the session with them');
    t.notOk(await sessionExists(db, 'conv_crash_other'));
  });
}
