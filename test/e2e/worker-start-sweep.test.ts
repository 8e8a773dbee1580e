import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { findTurn } from '../../workers/memory/delivery.js';
import { memoryDatabasePath } from '../../workers/memory/database.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { startTestNats } from '../helpers/nats.js';
import { startWorkerProcess } from '../helpers/processes.js';
import { newTurn } from '../helpers/turns.js';
import { waitFor } from '../helpers/wait.js';

// A worker process deletes the pending turns a dead worker left (older than 2 h) once it is ready:
// the sweep reads the whole turns table, so it must not hold up the start.

t.test('a starting worker sweeps stale pending turns after it is ready', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-sweep-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const memory = { dialect: 'sqlite', dataDir, file: memoryDatabasePath(dataDir) } as const;
  const seeded = await openMigratedMemory(memory);
  await recordTurn(seeded.db, newTurn({ requestId: 'chatcmpl-stale', sessionId: 'conv_stale' }), 'pending');
  await recordTurn(seeded.db, newTurn({ requestId: 'chatcmpl-fresh', sessionId: 'conv_fresh' }), 'pending');
  const longAgo = new Date(Date.now() - 3 * 3_600_000).toISOString();
  await seeded.db
    .updateTable('turns')
    .set({ created_at: longAgo })
    .where('request_id', '=', 'chatcmpl-stale')
    .execute();
  await seeded.db.destroy();

  const nats = await startTestNats();
  t.teardown(() => nats.dispose());
  const ollama = await startFakeOllama();
  t.teardown(() => ollama.close());
  const worker = await startWorkerProcess(
    { NATS_URL: nats.url, OLLAMA_URL: ollama.url, DATA_DIR: dataDir, BACKEND_PROBE_INTERVAL_MS: '0' },
    ['code_review'],
  );
  t.teardown(() => worker.stop());

  const { db } = await openMigratedMemory(memory);
  t.teardown(() => db.destroy());
  await waitFor('the stale pending turn to be swept', async () => (await findTurn(db, 'chatcmpl-stale')) === undefined);
  t.equal((await findTurn(db, 'chatcmpl-fresh'))?.state, 'pending', 'a turn that may still be delivered stays');
  await waitFor('the log line', () => worker.output().includes('deleted pending turns'));
  const output = worker.output();
  t.ok(output.indexOf('worker ready') < output.indexOf('deleted pending turns'), 'swept after ready');
  t.equal(await worker.stop(), 0, 'stops cleanly');
});
