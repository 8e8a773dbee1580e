import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import t from 'tap';
import { JSON_SCHEMA_DOCUMENTS, renderJsonDocument } from '../../bus-schemas/index.js';
import { WEBSOCKET_JSON_DOCUMENTS } from '../../gateway/websocket/json-documents.js';
import { CONFIG_JSON_DOCUMENTS } from '../../scripts/config-json-documents.js';

t.test('the committed JSON Schema files match the TypeScript sources (run "npm run schemas")', async (t) => {
  for (const [name, document] of Object.entries(JSON_SCHEMA_DOCUMENTS)) {
    const committed = readFileSync(new URL(`../../bus-schemas/json/${name}`, import.meta.url), 'utf8');
    t.equal(committed, renderJsonDocument(document), name);
  }
  for (const [name, document] of Object.entries({ ...WEBSOCKET_JSON_DOCUMENTS, ...CONFIG_JSON_DOCUMENTS })) {
    const committed = readFileSync(new URL(`../../docs/schemas/${name}`, import.meta.url), 'utf8');
    t.equal(committed, renderJsonDocument(document), name);
  }
});

t.test(
  'every exported schema is valid JSON Schema (the runtime ajv skips this check: bus-schemas/ajv.ts)',
  async (t) => {
    const ajv = new Ajv({ discriminator: true, allowUnionTypes: true });
    const documents = { ...JSON_SCHEMA_DOCUMENTS, ...WEBSOCKET_JSON_DOCUMENTS, ...CONFIG_JSON_DOCUMENTS };
    for (const [name, document] of Object.entries(documents))
      t.ok(ajv.validateSchema(document), `${name}: ${ajv.errorsText(ajv.errors)}`);
    t.ok(Object.keys(CONFIG_JSON_DOCUMENTS).length >= 5, 'the configuration files are among them');
  },
);

t.test("the JSON files work in a plain ajv, as another language's validator would use them", async (t) => {
  const ajv = new Ajv({ discriminator: true });
  const envelope = JSON.parse(readFileSync(new URL('../../docs/examples/chat-request.json', import.meta.url), 'utf8'));
  const validateRequest = ajv.compile(
    JSON.parse(readFileSync(new URL('../../bus-schemas/json/chat-request.schema.json', import.meta.url), 'utf8')),
  );
  t.ok(validateRequest(envelope), 'the documented example envelope is valid');
  const validateFrame = ajv.compile(
    JSON.parse(readFileSync(new URL('../../bus-schemas/json/reply-frame.schema.json', import.meta.url), 'utf8')),
  );
  t.ok(validateFrame({ type: 'delta', seq: 1, request_id: 'x', content: 'hi' }));
  t.notOk(validateFrame({ type: 'delta', seq: 1, request_id: 'x' }));
});

t.test('the WebSocket frame files validate the frames docs/websocket.md shows', async (t) => {
  const ajv = new Ajv({ discriminator: true, allowUnionTypes: true });
  const client = ajv.compile(
    JSON.parse(readFileSync(new URL('../../docs/schemas/websocket-client-frame.schema.json', import.meta.url), 'utf8')),
  );
  const server = ajv.compile(
    JSON.parse(readFileSync(new URL('../../docs/schemas/websocket-server-frame.schema.json', import.meta.url), 'utf8')),
  );
  t.ok(client({ type: 'chat', id: 'c1', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] }));
  t.ok(client({ type: 'cancel', id: 'c1' }));
  t.notOk(client({ type: 'cancel' }));
  t.notOk(client({ type: 'teleport' }));
  t.ok(server({ type: 'delta', id: 'c1', seq: 0, content: 'Hel' }));
  t.ok(
    server({
      type: 'error',
      id: null,
      error: { message: 'm', type: 'invalid_request_error', param: null, code: 'invalid_json' },
    }),
  );
  t.notOk(server({ type: 'delta', id: 'c1', seq: 0 }));
});

t.test('the shipped configuration files are valid against their exported schemas', async (t) => {
  const ajv = new Ajv({ allowUnionTypes: true });
  for (const [config, schema] of [
    ['agents.json', 'agent-catalog'],
    ['routing.json', 'routing-table'],
    ['secrets.json', 'secret-patterns'],
    ['rate-tiers.json', 'rate-tiers'],
  ]) {
    const validate = ajv.compile(
      JSON.parse(readFileSync(new URL(`../../docs/schemas/${schema}.schema.json`, import.meta.url), 'utf8')),
    );
    t.ok(
      validate(JSON.parse(readFileSync(new URL(`../../config/${config}`, import.meta.url), 'utf8'))),
      `config/${config}`,
    );
  }
});
