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

t.test('a worker stopped mid-sweep ends the sweep after its current step', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-sweep-stop-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const memory = { dialect: 'sqlite', dataDir, file: memoryDatabasePath(dataDir) } as const;
  const seeded = await openMigratedMemory(memory);
  const longAgo = new Date(Date.now() - 3 * 3_600_000).toISOString();
  // The sweep walks turn ids up to the highest, 20,000 a step: a last turn at id 10^12 makes
  // 50 million steps, far more than a worker gets through before the stop below.
  for (const [requestId, id] of [
    ['chatcmpl-first', 1],
    ['chatcmpl-last', 1e12],
  ] as const) {
    await recordTurn(seeded.db, newTurn({ requestId, sessionId: `conv_${requestId}` }), 'pending');
    await seeded.db.updateTable('turns').set({ created_at: longAgo, id }).where('request_id', '=', requestId).execute();
  }
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
  await waitFor('the first step', async () => (await findTurn(db, 'chatcmpl-first')) === undefined);
  // Without the stop signal the worker would wait for the whole sweep, and be killed after 15 s.
  t.equal(await worker.stop(), 0, 'stops cleanly, without waiting for the sweep');
  t.equal((await findTurn(db, 'chatcmpl-last'))?.state, 'pending', 'the rest is left for the next start');
  t.match(worker.output(), /"swept":1\b/, 'it reports what it swept');
});
