import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { memoryDatabasePath } from '../../workers/memory/database.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { redactDatabaseUrl, type MemorySettings } from '../../workers/memory/settings.js';
import { deleteStoredTurn, storedTurn } from '../../workers/memory/stored-turns.js';
import { recordTurn, type NewTurn } from '../../workers/memory/turns.js';
import { startTestPostgres } from '../helpers/postgres.js';

// The stored-response reads and deletes (the Responses API's GET and DELETE) on both memory
// dialects: a real SQLite file and a private PostgreSQL server.
const postgres = await startTestPostgres();
t.teardown(() => postgres.dispose());
const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-stored-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

const dialects: Array<[string, () => Promise<MemorySettings>]> = [
  ['sqlite', async () => ({ dialect: 'sqlite', dataDir, file: memoryDatabasePath(dataDir) })],
  [
    'postgres',
    async () => {
      const url = await postgres.createDatabase('stored_turns');
      return { dialect: 'postgres', url, shownUrl: redactDatabaseUrl(url), poolSize: 2 };
    },
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
}
