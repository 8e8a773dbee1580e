import t from 'tap';
import {
  AgentbusError,
  PROTOCOL_VERSION,
  assertChatRequest,
  decodeChatRequest,
  decodeEmbedReply,
  decodeMemoryLastReply,
  decodeMemoryResponseReply,
  decodeReplyFrame,
  decodeSpeechFrame,
  decodeTranscriptionFrame,
  encodeJson,
  errorFromWire,
  isChatRequest,
  isReplyFrame,
  inboxScopes,
  subjectsFor,
  type ChatRequest,
  type WireError,
} from '../../bus-schemas/index.js';

const validEnvelope = (): ChatRequest => ({
  v: PROTOCOL_VERSION,
  request_id: 'chatcmpl-abc',
  session_id: 'conv_1',
  create_session: false,
  intent: 'code_review',
  model: 'code_review',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hi' },
  ],
  options: { temperature: 0.2, max_tokens: 64, stop: ['\n\n'] },
  stream: true,
  timeout_ms: 10_000,
  heartbeat_ms: 2000,
  tenant: 'key_0123456789abcdef',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  created_at: Date.now(),
});

t.test('subjects come from one configurable prefix', async (t) => {
  const s = subjectsFor();
  t.equal(s.chat('code_review'), 'agents.code_review.chat');
  t.equal(s.queueGroup('code_review'), 'code_review');
  t.equal(s.allChat, 'agents.*.chat');
  t.equal(s.audit('code_review'), 'agents.audit.code_review.chat');
  t.equal(s.allAudit, 'agents.audit.*.chat');
  t.equal(s.auditSpeech('voice_processor'), 'agents.audit.voice_processor.speech');
  t.equal(s.allAuditSpeech, 'agents.audit.*.speech');
  t.equal(subjectsFor('test-1.agents').chat('testing'), 'test-1.agents.testing.chat');
  t.equal(s.cancel('code_review'), 'agents.code_review.cancel');
  t.equal(s.allCancel, 'agents.*.cancel');
  t.equal(inboxScopes.chat('code_review'), 'chat.code_review');
  t.throws(() => inboxScopes.chat('a.b'), /invalid intent/);
  t.throws(() => subjectsFor('bad prefix'), /invalid subject prefix/);
  t.throws(() => subjectsFor('a.*'), /invalid subject prefix/);
  t.throws(() => s.chat('two.tokens'), /invalid intent/);
  t.throws(() => s.chat('>'), /invalid intent/);
});

t.test('a valid envelope passes and survives an encode/decode round trip', async (t) => {
  const envelope = validEnvelope();
  t.ok(isChatRequest(envelope));
  t.same(decodeChatRequest(encodeJson(envelope)), envelope);
});

t.test('invalid envelopes are rejected with invalid_envelope naming the field', async (t) => {
  const cases: Array<[string, (e: any) => void, RegExp]> = [
    [
      'a protocol version no receiver knows',
      (e) => {
        e.v = 99;
      },
      /v must be one of: 1, 2/,
    ],
    [
      'missing request_id',
      (e) => {
        delete e.request_id;
      },
      /request_id is required/,
    ],
    [
      'missing create_session',
      (e) => {
        delete e.create_session;
      },
      /create_session is required/,
    ],
    [
      'empty messages',
      (e) => {
        e.messages = [];
      },
      /messages/,
    ],
    [
      'unknown role',
      (e) => {
        e.messages[1].role = 'wizard';
      },
      /messages\[1\]\.role must be one of/,
    ],
    [
      'content not a string',
      (e) => {
        e.messages[1].content = 42;
      },
      /messages\[1\]\.content must be a string/,
    ],
    [
      'temperature out of range',
      (e) => {
        e.options.temperature = 3;
      },
      /options\.temperature/,
    ],
    [
      'more than 4 stop strings',
      (e) => {
        e.options.stop = ['a', 'b', 'c', 'd', 'e'];
      },
      /options\.stop/,
    ],
    [
      'unknown top-level field',
      (e) => {
        e.surprise = 1;
      },
      /surprise is not allowed/,
    ],
    [
      'intent with a dot',
      (e) => {
        e.intent = 'a.b';
      },
      /intent/,
    ],
    [
      'session id with spaces',
      (e) => {
        e.session_id = 'has space';
      },
      /session_id/,
    ],
    [
      'bad traceparent',
      (e) => {
        e.traceparent = 'nope';
      },
      /traceparent/,
    ],
    [
      'timeout too short',
      (e) => {
        e.timeout_ms = 5;
      },
      /timeout_ms must be at least 100/,
    ],
  ];
  for (const [name, mutate, message] of cases) {
    const envelope: any = validEnvelope();
    mutate(envelope);
    t.notOk(isChatRequest(envelope), name);
    const err = t.throws(() => assertChatRequest(envelope), name) as AgentbusError;
    t.equal(err.code, 'invalid_envelope', `${name}: code`);
    t.match(err.message, message, `${name}: message`);
  }
  const notJson = t.throws(() => decodeChatRequest(new TextEncoder().encode('{nope'))) as AgentbusError;
  t.equal(notJson.code, 'invalid_envelope');
});

t.test('every reply frame type validates, and malformed frames do not', async (t) => {
  const base = { request_id: 'chatcmpl-abc' };
  const valid = [
    { type: 'ack', seq: 0, ...base, worker: 'w1', conversation_id: 'conv_1' },
    { type: 'delta', seq: 1, ...base, content: 'Hel' },
    { type: 'heartbeat', seq: 2, ...base },
    {
      type: 'done',
      seq: 3,
      ...base,
      finish_reason: 'stop',
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      meta: {
        conversation_id: 'conv_1',
        memory_used: false,
        cached: false,
        processing_ms: 12,
        agent: 'testing',
        model: 'llama3.2',
        worker: 'w1',
      },
    },
    {
      type: 'error',
      seq: 1,
      ...base,
      error: { code: 'backend_unreachable', message: 'down', retryable: true, status: 503 },
    },
  ];
  for (const frame of valid) {
    t.ok(isReplyFrame(frame), `${frame.type} is valid`);
    t.same(decodeReplyFrame(encodeJson(frame)), frame, `${frame.type} round-trips`);
  }
  const invalid: Array<[string, unknown]> = [
    ['unknown type', { type: 'maybe', seq: 0, ...base }],
    ['delta without content', { type: 'delta', seq: 1, ...base }],
    ['negative seq', { type: 'heartbeat', seq: -1, ...base }],
    ['done with bad finish_reason', { ...(valid[3] as object), finish_reason: 'tired' }],
    [
      'error with a code that is no code',
      { type: 'error', seq: 1, ...base, error: { code: 'Oops!', message: 'x', retryable: false } },
    ],
    ['ack without conversation id', { type: 'ack', seq: 0, ...base, worker: 'w1' }],
    ['extra field', { type: 'heartbeat', seq: 0, ...base, extra: true }],
  ];
  for (const [name, frame] of invalid) {
    t.notOk(isReplyFrame(frame), name);
    const err = t.throws(() => decodeReplyFrame(encodeJson(frame)), name) as AgentbusError;
    t.equal(err.code, 'stream_protocol_error', `${name}: code`);
  }
});

// A worker newer than its gateway sends codes added to the table since: every reply that carries an
// error must take them (errorFromWire reads them), or the whole reply is refused as malformed.
t.test('every reply that carries an error takes a code added to the table since, not a malformed one', async (t) => {
  const decoders: Array<[string, (bytes: Uint8Array) => unknown, object]> = [
    ['reply frame', decodeReplyFrame, { seq: 1 }],
    ['memory query reply', decodeMemoryLastReply, {}],
    ['response query reply', decodeMemoryResponseReply, {}],
    ['embed reply', decodeEmbedReply, {}],
    ['speech frame', decodeSpeechFrame, { seq: 0 }],
    ['transcription frame', decodeTranscriptionFrame, { seq: 0 }],
  ];
  const reply = (extra: object, code: string) => ({
    type: 'error',
    request_id: 'chatcmpl-abc',
    ...extra,
    error: { code, message: 'newer', retryable: false, status: 502 },
  });
  for (const [name, decode, extra] of decoders) {
    const decoded = decode(encodeJson(reply(extra, 'backend_newer_code'))) as { error: WireError };
    t.equal(errorFromWire(decoded.error).code, 'internal_error', `${name}: read as internal_error`);
    for (const code of ['', 'Oops!', `a${'b'.repeat(64)}`])
      t.throws(() => decode(encodeJson(reply(extra, code))), { code: 'stream_protocol_error' }, `${name}: "${code}"`);
  }
});
