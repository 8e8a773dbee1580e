import { mkdirSync, writeFileSync } from 'node:fs';
import { JSON_SCHEMA_DOCUMENTS, renderJsonDocument } from '../bus-schemas/json-documents.js';

// `npm run schemas`: regenerate bus-schemas/json/*.json from the TypeScript schema sources.
const dir = new URL('../bus-schemas/json/', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, document] of Object.entries(JSON_SCHEMA_DOCUMENTS)) {
  writeFileSync(new URL(name, dir), renderJsonDocument(document));
  process.stdout.write(`wrote bus-schemas/json/${name}\n`);
}
