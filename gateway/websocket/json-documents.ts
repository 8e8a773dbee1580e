import { clientFrameSchema, serverFrameSchema } from './frames.schema.js';

/**
 * The WebSocket frame schemas as standalone JSON Schema documents (draft-07), for clients not
 * written in TypeScript. `npm run schemas` writes them to `docs/schemas/`; a test fails when
 * the committed files drift from the TypeScript sources.
 */
export const WEBSOCKET_JSON_DOCUMENTS: Record<string, object> = {
  'websocket-client-frame.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...clientFrameSchema },
  'websocket-server-frame.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...serverFrameSchema },
};
