import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ChatRequest } from '../../bus-schemas/index.js';
import { deliverTurn, type DeliverTurn } from '../../workers/chat/deliver-turn.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { recordTurnRow, type NewTurn } from '../../workers/memory/turns.js';
import type { ReplyStream } from '../../workers/reply-stream.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// Two attempts of one request replacing the pending turn a killed first attempt left, in every
// order of their steps: the stale second attempt (its worker slow, not dead) and the third, whose
// answer the client gets. Whatever the interleaving, memory ends with the third's text.

const base: NewTurn = {
  requestId: 'chatcmpl-raced',
  sessionId: 'conv_raced',
  tenant: 'tenant-a',
  agent: 'testing',
  model: 'm',
  inputMessages: [{ role: 'user', content: 'hi' }],
  assistantResponse: '',
  toolCalls: [],
  finishReason: 'stop',
  cached: false,
  promptTokens: 1,
  completionTokens: 1,
  durationMs: 1,
  private: false,
};

async function race(thirdFirst: boolean, steps: number) {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-race-'));
  const db = openMemoryDatabase(memoryDatabasePath(dir));
  try {
    await migrateToLatest(db);
    await recordTurnRow(db, { ...base, assistantResponse: 'killed' }, 'pending');
    const receipts = new Map<string, (delivered: boolean) => void>();
    // Once the gateway answers, a done that comes later is answered at once.
    let answering = false;
    const attempt = (text: string, number: number) => {
      const out = {
        finish: () => undefined,
        finishAwaitingReceipt: () =>
          new Promise((resolve) => {
            const answer = (delivered: boolean) =>
              resolve({ delivered, why: 'not delivered', acknowledge: () => undefined });
            if (answering) answer(text === 'third');
            else receipts.set(text, answer);
          }),
      } as unknown as ReplyStream;
      const options: DeliverTurn = {
        db,
        memoryAt: undefined,
        health: undefined,
        log: recordingLogger().log,
        receiptWaitMs: 1000,
        onCommitted: () => undefined,
        envelope: { v: 2, request_id: base.requestId, attempt: number } as ChatRequest,
        turn: { ...base, assistantResponse: text, attempt: number },
        done: {} as never,
      };
      return deliverTurn(options, out).catch((err: { code?: string }) => err.code);
    };
    const turns = async (count: number) => {
      for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
    };
    const second = () => attempt('second', 2);
    const third = () => attempt('third', 3);
    const a = thirdFirst ? third() : second();
    await turns(steps);
    const b = thirdFirst ? second() : third();
    // The third's done awaits its receipt once its turn is written; the gateway answers it, and
    // the second's (if it wrote one) says not delivered: the gateway gave up on that attempt.
    for (let i = 0; i < 1000 && !receipts.has('third'); i++) await turns(1);
    answering = true;
    for (const [text, answer] of receipts) answer(text === 'third');
    await Promise.all([a, b]);
    return (await db.selectFrom('turns').select(['state', 'assistant_response']).execute()).map((row) => [
      row.state,
      row.assistant_response,
    ]);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const thirdFirst of [false, true])
  for (const steps of [0, 1, 2, 3, 5])
    t.test(
      `${thirdFirst ? 'the third' : 'the second'} attempt first, the other ${steps} loop turns later`,
      async (t) => {
        t.same(await race(thirdFirst, steps), [['committed', 'third']]);
      },
    );
