import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../common/package-root.js';
import { JSON_SCHEMA_DOCUMENTS, renderJsonDocument } from '../bus-schemas/json-documents.js';
import { WEBSOCKET_JSON_DOCUMENTS } from '../gateway/websocket/json-documents.js';
import { CONFIG_JSON_DOCUMENTS } from './config-json-documents.js';

// `npm run schemas`: regenerate the JSON Schema files from the TypeScript schema sources: the
// bus contract into bus-schemas/json/, the WebSocket protocol into docs/schemas/.
const targets: Array<[string, Record<string, object>]> = [
  ['bus-schemas/json/', JSON_SCHEMA_DOCUMENTS],
  ['docs/schemas/', WEBSOCKET_JSON_DOCUMENTS],
  ['docs/schemas/', CONFIG_JSON_DOCUMENTS],
];
for (const [folder, documents] of targets) {
  const dir = packagePath(folder);
  mkdirSync(dir, { recursive: true });
  for (const [name, document] of Object.entries(documents)) {
    writeFileSync(join(dir, name), renderJsonDocument(document));
    process.stdout.write(`wrote ${folder}${name}\n`);
  }
}
