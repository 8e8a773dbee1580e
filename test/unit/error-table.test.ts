import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  AgentbusError,
  asksNextAgent,
  ERROR_CODES,
  ERROR_TABLE,
  errorFromWire,
  errorFrameSchema,
  ERROR_CODE_PATTERN,
} from '../../bus-schemas/index.js';

const OPENAI_TYPE_FOR_STATUS = (status: number) =>
  status === 401
    ? ['invalid_request_error', 'authentication_error']
    : status === 429
      ? ['requests', 'insufficient_quota']
      : status >= 500
        ? ['server_error']
        : ['invalid_request_error'];

t.test('each row is consistent', async (t) => {
  for (const code of ERROR_CODES) {
    const row = ERROR_TABLE[code];
    t.match(code, /^[a-z_]+$/, `${code} is snake_case`);
    t.ok(row.status >= 400 && row.status <= 599, `${code} has an error status`);
    t.ok(OPENAI_TYPE_FOR_STATUS(row.status).includes(row.type), `${code}: type ${row.type} fits status ${row.status}`);
    // 429 is the one client error worth retrying (later), as OpenAI's SDKs do; but not OpenAI's own
    // insufficient_quota 429, which no wait fixes.
    if (row.status < 500)
      t.equal(
        row.retryable,
        row.status === 429 && row.type !== 'insufficient_quota',
        `${code}: client errors are not retryable, but a rate limit's 429`,
      );
    t.ok(row.message.length > 0, `${code} has a default message`);
    // Another agent is for what this agent's own backend refused, never for the request itself: a server error,
    // or the 429 of the backend's empty account (OpenAI's type for it).
    if (asksNextAgent(code)) {
      const backends = row.status >= 500 || row.type === 'insufficient_quota';
      t.ok(backends && !row.retryable, `${code}: next agent only for a backend's refusal not retried`);
      t.match(row.doc, /`fallback`/, `${code}: its doc says the fallback agent is asked`);
    }
    const err = new AgentbusError(code);
    t.equal(err.status, row.status);
    t.same(Object.keys(err.toOpenAI().error).sort(), ['code', 'message', 'param', 'type']);
    t.equal(errorFromWire(err.toWire()).code, code, `${code} survives the bus`);
  }
});

t.test('the error frame schema lists the table codes, and takes a newer one by its pattern', async (t) => {
  const code = errorFrameSchema.properties.error.properties.code;
  t.same(code.anyOf[0].enum, ERROR_CODES, 'the known codes, for readers of the schema');
  for (const known of ERROR_CODES) t.match(known, new RegExp(ERROR_CODE_PATTERN), `${known} fits the pattern`);
});

t.test('a code this side does not know keeps its words, as a client error when its status says so', async (t) => {
  const unknown = { code: 'made_up', message: 'x', retryable: true, param: 'messages', retry_after_ms: 5000 };
  t.match(errorFromWire({ ...unknown, status: 503 }), {
    code: 'internal_error',
    status: 500,
    retryable: false,
    message: 'made_up: x',
    param: 'messages',
    retryAfterMs: undefined,
  });
  t.match(errorFromWire({ code: 'made_up', message: 'x', retryable: false }), { code: 'internal_error' }, 'no status');
  t.match(errorFromWire({ ...unknown, status: 429 }), { code: 'internal_error' }, 'a rate limit is not bad input');
  for (const status of [400, 404, 413])
    t.match(errorFromWire({ ...unknown, retryable: false, status }), {
      code: 'invalid_request',
      status: 400,
      retryable: false,
      message: 'made_up: x',
      param: 'messages',
    });
});

t.test('every code is used by the code base, and every code used is in the table', async (t) => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) files.push(path);
    }
  };
  for (const dir of ['gateway', 'workers', 'bus-schemas', 'common']) walk(dir);
  const source = files
    .filter((f) => !f.endsWith('errors.ts') || !f.includes('bus-schemas'))
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  for (const code of ERROR_CODES)
    t.match(source, new RegExp(`AgentbusError\\(\\s*'${code}'`), `${code} is raised somewhere`);
  const used = [...source.matchAll(/AgentbusError\(\s*'([a-z_]+)'/g)].map((m) => m[1]!);
  for (const code of new Set(used)) t.ok(ERROR_CODES.includes(code as never), `${code} is in the table`);
});
