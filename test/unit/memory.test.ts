import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { lastTurns } from '../../workers/memory/last-turns.js';
import { lookupSession, resolveSession } from '../../workers/memory/sessions.js';
import { loadHistory } from '../../workers/memory/history.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { sql } from 'kysely';
import { newTurn as turn } from '../helpers/turns.js';
import type { ChatMessage } from '../../bus-schemas/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-mem-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

t.test('migrations apply once and set WAL mode', async (t) => {
  t.same(await migrateToLatest(db), [
    '20261122T0200-create-sessions-and-turns',
    '20261122T1500-add-tool-calls-user-metadata',
    '20261122T1600-add-turns-private',
    '20261202T1600-turn-delivery',
    '20261202T1700-memory-probe',
    '20261203T0600-add-turns-previous-response',
    '20261203T0601-drop-turns-session-id-id',
    '20261205T1500-add-turns-pending-until',
    '20261205T2100-add-turns-requested-at',
    '20261207T0700-add-turns-refusal',
    '20261208T0900-memory-identity',
  ]);
  t.same(await migrateToLatest(db), [], 'second run applies nothing');
  const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
  t.equal(mode.rows[0]?.journal_mode, 'wal');
});

t.test('a turn is written once per request id', async (t) => {
  t.equal(await recordTurn(db, turn()), true);
  t.equal(await recordTurn(db, turn({ assistantResponse: 'different' })), false, 'redelivery writes nothing');
  t.equal(
    await recordTurn(db, turn({ sessionId: 'conv_other' })),
    false,
    'a replay into another session writes nothing either',
  );
  t.equal(
    await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_other').executeTakeFirst(),
    undefined,
    'not even the session row',
  );
  const rows = await db.selectFrom('turns').selectAll().execute();
  t.equal(rows.length, 1);
  t.equal(rows[0]!.assistant_response, 'a');
  const session = await db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
  t.equal(session.turn_count, 1, 'the session counter moved once');
});

t.test("a turn for another tenant's session is refused and leaves no row behind", async (t) => {
  await t.rejects(recordTurn(db, turn({ requestId: 'chatcmpl-2', tenant: 'key_b' })), { code: 'session_not_found' });
  t.equal((await db.selectFrom('turns').selectAll().execute()).length, 1);
});

t.test('resolveSession: by id, by completion id; unknown and foreign ids look the same', async (t) => {
  t.same(await resolveSession(db, 'conv_1', 'key_a', false), { id: 'conv_1', exists: true });
  t.same(await resolveSession(db, 'chatcmpl-1', 'key_a', false), { id: 'conv_1', exists: true });
  t.same(
    await resolveSession(db, 'conv_1', 'key_a', true),
    { id: 'conv_1', exists: true },
    'create on an existing own session continues it',
  );
  t.same(
    await resolveSession(db, 'new-one', 'key_a', true),
    { id: 'new-one', exists: false },
    'create starts a new conversation',
  );
  await t.rejects(resolveSession(db, 'new-one', 'key_a', false), {
    code: 'session_not_found',
    message: /send no session id/,
  });
  await t.rejects(resolveSession(db, 'conv_1', 'key_b', false), { code: 'session_not_found' });
  await t.rejects(resolveSession(db, 'chatcmpl-1', 'key_b', false), { code: 'session_not_found' });
  await t.rejects(
    resolveSession(db, 'conv_1', 'key_b', true),
    { code: 'session_not_found' },
    'create never takes over a foreign session',
  );
});

t.test('history is bounded by the window and returned oldest first', async (t) => {
  for (let i = 2; i <= 5; i++)
    await recordTurn(
      db,
      turn({
        requestId: `chatcmpl-${i}`,
        inputMessages: [{ role: 'user', content: `q${i}` }],
        assistantResponse: `a${i}`,
      }),
    );
  const history = await loadHistory(db, 'conv_1', 2, 'chatcmpl-6');
  t.same(history.messages, [
    { role: 'user', content: 'q4' },
    { role: 'assistant', content: 'a4' },
    { role: 'user', content: 'q5' },
    { role: 'assistant', content: 'a5' },
  ]);
  t.same((await loadHistory(db, 'conv_1', 0, 'chatcmpl-6')).messages, []);
});

t.test('every value of a turn lands in its own column', async (t) => {
  // All distinct, so a swapped pair of parameters (agent/model, the token counts…) shows.
  const before = new Date().toISOString();
  t.equal(
    await recordTurn(
      db,
      turn({
        requestId: 'chatcmpl-cols',
        sessionId: 'conv_cols',
        tenant: 'key_cols',
        agent: 'agent-x',
        model: 'model-y',
        inputMessages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'u1', images: ['aW1n'], image_parts: [{ at: 1, media_type: 'image/jpeg' }] },
          { role: 'user', content: 'u2' },
        ],
        assistantResponse: 'answer, no',
        toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        finishReason: 'tool_calls',
        cached: true,
        promptTokens: 11,
        completionTokens: 22,
        durationMs: 33,
        endUser: 'user-u',
        metadata: { k: 'v' },
        private: true,
        previousResponseId: 'resp_prev',
        pendingUntil: 1_796_486_400_000,
        attempt: 3,
        requestedAt: 1_796_486_300_000,
        refusal: 'no',
      }),
    ),
    true,
  );
  const { id, created_at, ...row } = await db
    .selectFrom('turns')
    .selectAll()
    .where('request_id', '=', 'chatcmpl-cols')
    .executeTakeFirstOrThrow();
  t.ok(id > 0);
  t.ok(created_at >= before, 'written now, in ISO form');
  t.same(row, {
    request_id: 'chatcmpl-cols',
    session_id: 'conv_cols',
    agent: 'agent-x',
    model: 'model-y',
    user_input: 'u1\nu2',
    input_messages: JSON.stringify([
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'u1' },
      { role: 'user', content: 'u2' },
    ]),
    assistant_response: 'answer, no',
    tool_calls: JSON.stringify([{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }]),
    finish_reason: 'tool_calls',
    cached: 1,
    prompt_tokens: 11,
    completion_tokens: 22,
    duration_ms: 33,
    end_user: 'user-u',
    metadata: '{"k":"v"}',
    private: 1,
    previous_response_id: 'resp_prev',
    state: 'committed',
    commit_seq: 1,
    pending_until: 1_796_486_400_000,
    attempt: 3,
    requested_at: 1_796_486_300_000,
    refusal: 'no',
  });
  t.same(await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_cols').executeTakeFirstOrThrow(), {
    id: 'conv_cols',
    tenant: 'key_cols',
    agent: 'agent-x',
    created_at,
    updated_at: created_at,
    turn_count: 1,
  });
  await recordTurn(db, turn({ requestId: 'chatcmpl-cols2', sessionId: 'conv_cols', tenant: 'key_cols', agent: 'b' }));
  const touched = await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_cols').executeTakeFirstOrThrow();
  t.match(touched, { agent: 'agent-x', created_at, turn_count: 2 }, 'a later turn counts, the first agent stays');
  t.ok(touched.updated_at >= created_at);
});

t.test('a session is found by its id, a completion id, or a fan-out part when the first part failed', async (t) => {
  await recordTurn(db, turn({ requestId: 'chatcmpl-fan.agent-b', sessionId: 'conv_fan' }));
  t.same(await lookupSession(db, 'conv_fan'), { id: 'conv_fan', tenant: 'key_a' });
  t.same(await lookupSession(db, 'chatcmpl-fan.agent-b'), undefined, "a part's own id is the bus's, not a client's");
  await recordTurn(db, turn({ requestId: 'chatcmpl-dotted', sessionId: 'team.alpha' }));
  t.same(await lookupSession(db, 'team.alpha'), { id: 'team.alpha', tenant: 'key_a' }, 'a bus sender may dot its ids');
  t.same(await lookupSession(db, 'chatcmpl-fan'), { id: 'conv_fan', tenant: 'key_a' }, 'by the client-facing id');
  t.same(await lookupSession(db, 'chatcmpl-fa'), undefined, 'a prefix is not a part');
  t.same(await lookupSession(db, 'nothing'), undefined);
});

t.test("history leaves out the asking request's own fan-out parts; a private turn makes it private", async (t) => {
  await recordTurn(db, turn({ requestId: 'chatcmpl-h1', sessionId: 'conv_h', assistantResponse: 'h1' }));
  await recordTurn(db, turn({ requestId: 'chatcmpl-h2', sessionId: 'conv_h', assistantResponse: 'h2', private: true }));
  await recordTurn(db, turn({ requestId: 'chatcmpl-h2x', sessionId: 'conv_h', assistantResponse: 'h2x' }));
  await recordTurn(db, turn({ requestId: 'chatcmpl-h2.b', sessionId: 'conv_h', assistantResponse: 'part' }));
  const answers = (history: Awaited<ReturnType<typeof loadHistory>>) =>
    history.messages.filter((m) => m.role === 'assistant').map((m) => m.content);
  const forPart = await loadHistory(db, 'conv_h', 10, 'chatcmpl-h2.aggregate');
  t.same(answers(forPart), ['h1', 'h2x'], 'chatcmpl-h2 and chatcmpl-h2.b are the same client request');
  t.equal(forPart.private, false);
  const later = await loadHistory(db, 'conv_h', 10, 'chatcmpl-h3');
  t.same(answers(later), ['h1', '## testing\n\nh2\n\n## b\n\npart', 'h2x'], 'the fan-out as its client saw it');
  t.equal(later.private, true);
});

t.test('a fan-out replays as one exchange: the question once, then the answer the client got', async (t) => {
  const ask = (requestId: string, agent: string, assistantResponse: string) =>
    recordTurn(
      db,
      turn({
        requestId,
        agent,
        sessionId: 'conv_fo',
        inputMessages: [{ role: 'user', content: `q-${requestId.split('.')[0]}` }],
        assistantResponse,
      }),
    );
  // Sections: the parts commit in any order; the first agent's (R) comes first, as the client saw it.
  await ask('chatcmpl-fo1.code_review', 'code_review', 'review');
  await ask('chatcmpl-fo1', 'documentation', 'docs');
  // Synthesised: the aggregator's text was the whole answer.
  await ask('chatcmpl-fo2', 'code_generation', 'code');
  await ask('chatcmpl-fo2.aggregate', 'aggregate', 'summary');
  await ask('chatcmpl-fo2.code_review', 'code_review', 'review 2');
  // The first agent failed (no turn of R): the section of the part that answered.
  await ask('chatcmpl-fo3.code_review', 'code_review', 'review 3');
  await ask('chatcmpl-fo4', 'testing', 'plain');
  const history = await loadHistory(db, 'conv_fo', 10, 'chatcmpl-fo5');
  t.same(history.messages, [
    { role: 'user', content: 'q-chatcmpl-fo1' },
    { role: 'assistant', content: '## documentation\n\ndocs\n\n## code_review\n\nreview' },
    { role: 'user', content: 'q-chatcmpl-fo2' },
    { role: 'assistant', content: 'summary' },
    { role: 'user', content: 'q-chatcmpl-fo3' },
    { role: 'assistant', content: '## code_review\n\nreview 3' },
    { role: 'user', content: 'q-chatcmpl-fo4' },
    { role: 'assistant', content: 'plain' },
  ]);
  const stored = await db.selectFrom('turns').select('request_id').where('session_id', '=', 'conv_fo').execute();
  t.equal(stored.length, 7, 'every part keeps its own turn');
});

t.test("a window that keeps only a fan-out's synthesis leaves it out: its brief is no client's words", async (t) => {
  const ask = (requestId: string, question: string, assistantResponse: string) =>
    recordTurn(
      db,
      turn({
        requestId,
        agent: 'testing',
        sessionId: 'conv_fo_edge',
        inputMessages: [{ role: 'user', content: question }],
        assistantResponse,
      }),
    );
  await ask('chatcmpl-fe1', 'q1', 'docs');
  await ask('chatcmpl-fe1.code_review', 'q1', 'review');
  await ask('chatcmpl-fe1.aggregate', 'brief: combine docs and review', 'summary');
  await ask('chatcmpl-fe2', 'q2', 'plain');
  t.same((await loadHistory(db, 'conv_fo_edge', 2, 'chatcmpl-fe3')).messages, [
    { role: 'user', content: 'q2' },
    { role: 'assistant', content: 'plain' },
  ]);
  t.same((await loadHistory(db, 'conv_fo_edge', 3, 'chatcmpl-fe3')).messages, [
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: 'summary' },
    { role: 'user', content: 'q2' },
    { role: 'assistant', content: 'plain' },
  ]);
});

t.test('lastTurns: newest first, bounded, by any id of the conversation, only for its tenant', async (t) => {
  const last = await lastTurns(db, 'chatcmpl-h1', 'key_a', 2);
  t.equal(last.sessionId, 'conv_h');
  t.same(
    last.turns.map((turn) => turn.request_id),
    ['chatcmpl-h2.b', 'chatcmpl-h2x'],
  );
  t.match(last.turns[0], { agent: 'testing', model: 'm', cached: false, prompt_tokens: 1, completion_tokens: 1 });
  await t.rejects(lastTurns(db, 'conv_h', 'key_b', 2), { code: 'session_not_found' });
  await t.rejects(lastTurns(db, 'nothing', 'key_a', 2), { code: 'session_not_found' });
});

t.test('a window of history that starts after a call leaves out the results that answer it', async (t) => {
  const session = { sessionId: 'conv_window' };
  const calls = [{ id: 'call_w', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
  await recordTurn(db, turn({ ...session, requestId: 'chatcmpl-w1', toolCalls: calls, assistantResponse: '' }));
  const results = [{ role: 'tool' as const, content: '20 °C', tool_call_id: 'call_w' }];
  await recordTurn(
    db,
    turn({ ...session, requestId: 'chatcmpl-w2', inputMessages: results, assistantResponse: 'warm' }),
  );
  const whole = await loadHistory(db, 'conv_window', 2, 'chatcmpl-w3');
  t.same(
    whole.messages.map((m) => m.role),
    ['user', 'assistant', 'tool', 'assistant'],
  );
  // One turn back: its result answers a call outside the window, which a backend would refuse.
  t.same((await loadHistory(db, 'conv_window', 1, 'chatcmpl-w3')).messages, [{ role: 'assistant', content: 'warm' }]);
  await recordTurn(
    db,
    turn({ ...session, requestId: 'chatcmpl-w3', inputMessages: [{ role: 'user', content: 'and tomorrow?' }] }),
  );
  // Two turns back: the window opens at its question, not with an answer right after the system prompt.
  t.same(
    (await loadHistory(db, 'conv_window', 2, 'chatcmpl-w4')).messages.map((m) => m.role),
    ['user', 'assistant'],
  );
  t.same(
    (await loadHistory(db, 'conv_window', 3, 'chatcmpl-w4')).messages.map((m) => m.role),
    ['user', 'assistant', 'tool', 'assistant', 'user', 'assistant'],
    'the whole conversation in the window: as it was',
  );
});

t.test('history after a deleted turn that called tools opens at its next question, not its answer', async (t) => {
  const session = { sessionId: 'conv_gap' };
  const calls = [{ id: 'call_g', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
  await recordTurn(db, turn({ ...session, requestId: 'chatcmpl-gap1', toolCalls: calls, assistantResponse: '' }));
  const results = [{ role: 'tool' as const, content: '20 °C', tool_call_id: 'call_g' }];
  await recordTurn(db, turn({ ...session, requestId: 'chatcmpl-gap2', inputMessages: results }));
  await recordTurn(db, turn({ ...session, requestId: 'chatcmpl-gap3' }));
  await db.deleteFrom('turns').where('request_id', '=', 'chatcmpl-gap1').execute();
  const roles = (await loadHistory(db, 'conv_gap', 10, 'chatcmpl-gap4')).messages.map((m) => m.role);
  t.same(roles, ['user', 'assistant']);
});

t.test('a window holding the whole conversation keeps an opening answer (a greeting the client sent)', async (t) => {
  const greeting: ChatMessage[] = [
    { role: 'assistant', content: 'Hello! How can I help?' },
    { role: 'user', content: 'hi' },
  ];
  await recordTurn(db, turn({ sessionId: 'conv_greet', requestId: 'chatcmpl-g1', inputMessages: greeting }));
  const roles = (await loadHistory(db, 'conv_greet', 1, 'chatcmpl-g2')).messages.map((m) => m.role);
  t.same(roles, ['assistant', 'user', 'assistant']);
});

t.test("lastTurns shows a turn's tool calls, with their fields only; a row holding no calls shows none", async (t) => {
  const call = { id: 'call_9', type: 'function' as const, function: { name: 'lookup', arguments: '{"q": "cut sh' } };
  await recordTurn(db, turn({ requestId: 'chatcmpl-tc1', sessionId: 'conv_tc', toolCalls: [call] }));
  const last = await lastTurns(db, 'conv_tc', 'key_a', 1);
  t.same(last.turns[0]!.tool_calls, [call], 'a cut call keeps its arguments as written');
  t.notOk('tool_calls' in (await lastTurns(db, 'conv_h', 'key_a', 1)).turns[0]!, 'absent without calls');
  // Rows from elsewhere (an older worker, a hand edit): extra fields dropped, a broken list not shown.
  const set = (tool_calls: string) =>
    db.updateTable('turns').set({ tool_calls }).where('request_id', '=', 'chatcmpl-tc1').execute();
  await set(JSON.stringify([{ ...call, index: 0, function: { ...call.function, extra: 1 } }]));
  t.same((await lastTurns(db, 'conv_tc', 'key_a', 1)).turns[0]!.tool_calls, [call]);
  for (const broken of ['not json', '[]', '{"id": "x"}', '[{"id": 1}]']) {
    await set(broken);
    t.notOk('tool_calls' in (await lastTurns(db, 'conv_tc', 'key_a', 1)).turns[0]!, broken);
  }
});

t.test('concurrent writes: every new turn of one new session is kept, a replayed one once', async (t) => {
  const results = await Promise.all([
    ...Array.from({ length: 8 }, (_, i) => recordTurn(db, turn({ requestId: `chatcmpl-c${i}`, sessionId: 'conv_c' }))),
    ...Array.from({ length: 4 }, () => recordTurn(db, turn({ requestId: 'chatcmpl-same', sessionId: 'conv_c' }))),
  ]);
  t.same(results.slice(0, 8), Array(8).fill(true));
  t.same(results.slice(8).filter(Boolean), [true], 'the replayed request stored once');
  const session = await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_c').executeTakeFirstOrThrow();
  t.equal(session.turn_count, 9);
});

t.test('a lone surrogate is stored as one U+FFFD; a pair stays as it is', async (t) => {
  const odd = turn({
    requestId: 'chatcmpl-surrogate',
    sessionId: 'conv_surrogate',
    inputMessages: [{ role: 'user', content: 'a\uD800b \uD83D\uDE00' }],
    assistantResponse: 'c\uDC00d',
  });
  t.equal(await recordTurn(db, odd), true);
  const row = await db
    .selectFrom('turns')
    .select(['user_input', 'assistant_response', 'input_messages'])
    .where('request_id', '=', 'chatcmpl-surrogate')
    .executeTakeFirstOrThrow();
  t.equal(row.user_input, 'a\uFFFDb \uD83D\uDE00');
  t.equal(row.assistant_response, 'c\uFFFDd');
  t.same(JSON.parse(row.input_messages), [{ role: 'user', content: 'a\uD800b \uD83D\uDE00' }], 'JSON keeps the escape');
});

/** A committed turn of `sessionId` whose question and answer name its request id, on a branch when linked. */
const sayIn = (sessionId: string) => (requestId: string, previousResponseId?: string) =>
  recordTurn(
    db,
    turn({
      requestId,
      sessionId,
      inputMessages: [{ role: 'user', content: `q-${requestId}` }],
      assistantResponse: `a-${requestId}`,
      ...(previousResponseId ? { previousResponseId } : {}),
    }),
  );

/** The answers `loadHistory` replays in `sessionId` for a new request continuing `from`. */
const answersIn = (sessionId: string) => async (limit: number, from?: string) =>
  (await loadHistory(db, sessionId, limit, 'resp_new', from)).messages
    .filter((m) => m.role === 'assistant')
    .map((m) => m.content);

t.test('previous_response_id replays the branch that ends at that response, not what came after', async (t) => {
  // br1, br2 in the conversation's history (X-Session-ID); r1 continues it; r2 and r3 both answer r1
  // (a regenerated answer); r4 continues r3.
  const say = sayIn('conv_branch');
  await say('chatcmpl-br1');
  await say('chatcmpl-br2');
  await say('resp_r1');
  await say('resp_r2', 'resp_r1');
  await say('resp_r3', 'resp_r1');
  await say('resp_r4', 'resp_r3');
  const answers = answersIn('conv_branch');
  t.same(await answers(10), ['a-chatcmpl-br1', 'a-chatcmpl-br2', 'a-resp_r1', 'a-resp_r2', 'a-resp_r3', 'a-resp_r4']);
  t.same(await answers(10, 'resp_r4'), ['a-chatcmpl-br1', 'a-chatcmpl-br2', 'a-resp_r1', 'a-resp_r3', 'a-resp_r4']);
  t.same(
    await answers(10, 'resp_r1'),
    ['a-chatcmpl-br1', 'a-chatcmpl-br2', 'a-resp_r1'],
    'answered again: no later turn',
  );
  t.same(await answers(10, 'chatcmpl-br1'), ['a-chatcmpl-br1'], 'a completion id: the history up to it');
  t.same(await answers(3, 'resp_r4'), ['a-resp_r1', 'a-resp_r3', 'a-resp_r4'], 'bounded by the window');
  t.same(await answers(4, 'resp_r4'), ['a-chatcmpl-br2', 'a-resp_r1', 'a-resp_r3', 'a-resp_r4']);
  await db.deleteFrom('turns').where('request_id', '=', 'resp_r1').execute();
  t.same(await answers(10, 'resp_r4'), ['a-resp_r3', 'a-resp_r4'], 'a deleted response ends the branch');
  t.same(
    await answers(10, 'resp_nothing'),
    ['a-chatcmpl-br1', 'a-chatcmpl-br2', 'a-resp_r2', 'a-resp_r3', 'a-resp_r4'],
    'no such turn: the conversation as it is',
  );
});

t.test('a branch through a fan-out replays all its parts; a link to the conversation, its history', async (t) => {
  const say = sayIn('conv_fork');
  await say('chatcmpl-fk1');
  await say('resp_fk2', 'conv_fork'); // continued the conversation by its id (a WebSocket client may)
  await say('resp_fk3', 'resp_fk2');
  await say('resp_fk3.other', 'resp_fk2');
  await say('resp_fk3.aggregate', 'resp_fk2');
  await say('resp_fk4.other', 'resp_fk3'); // a fan-out whose first part failed: only its others
  await say('resp_fk5', 'resp_fk2'); // another branch from fk2
  await say('resp_fk6', 'resp_fk4');
  const answers = (from: string) => answersIn('conv_fork')(20, from);
  t.same(await answers('resp_fk2'), ['a-chatcmpl-fk1', 'a-resp_fk2'], 'the conversation the link names');
  // A fan-out replays as the answer its client got: here the aggregator's synthesis.
  const throughFk3 = ['a-chatcmpl-fk1', 'a-resp_fk2', 'a-resp_fk3.aggregate'];
  t.same(await answers('resp_fk3'), throughFk3);
  t.same(
    await answers('resp_fk6'),
    [...throughFk3, '## other\n\na-resp_fk4.other', 'a-resp_fk6'],
    'through a fan-out whose first part failed; never fk5',
  );
  t.same(await answers('resp_fk4'), [...throughFk3, '## other\n\na-resp_fk4.other']);
});
