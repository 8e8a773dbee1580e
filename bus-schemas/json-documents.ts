import { chatRequestSchema } from './chat-request.schema.js';
import { replyFrameSchema } from './reply-frames.schema.js';
import { cancelRequestSchema } from './cancel-request.schema.js';
import { workerBeatSchema } from './worker-beat.schema.js';
import { cachedAnswerSchema } from './cached-answer.schema.js';
import { deliveryReceiptSchema } from './delivery-receipt.schema.js';
import { embedReplySchema, embedRequestSchema } from './embed.schema.js';
import { speechFrameSchema, speechRequestSchema } from './speech.schema.js';
import {
  transcriptionFrameSchema,
  transcriptionRequestSchema,
  transcriptionUploadSchema,
} from './transcription.schema.js';
import { memoryLastReplySchema, memoryLastRequestSchema } from './memory-query.schema.js';
import { memoryResponseReplySchema, memoryResponseRequestSchema } from './memory-response.schema.js';

/**
 * The bus schemas as standalone JSON Schema documents (draft-07, ajv's default), for
 * participants not written in TypeScript. `npm run schemas` writes them to `bus-schemas/json/`;
 * a test fails when the committed files drift from the TypeScript sources.
 */
export const JSON_SCHEMA_DOCUMENTS: Record<string, object> = {
  'chat-request.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...chatRequestSchema },
  'reply-frame.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...replyFrameSchema },
  'cancel-request.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...cancelRequestSchema },
  'memory-last-request.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...memoryLastRequestSchema },
  'memory-last-reply.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...memoryLastReplySchema },
  'memory-response-request.schema.json': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...memoryResponseRequestSchema,
  },
  'memory-response-reply.schema.json': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...memoryResponseReplySchema,
  },
  'embed-request.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...embedRequestSchema },
  'embed-reply.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...embedReplySchema },
  'speech-request.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...speechRequestSchema },
  'speech-frame.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...speechFrameSchema },
  'transcription-request.schema.json': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...transcriptionRequestSchema,
  },
  'transcription-upload.schema.json': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...transcriptionUploadSchema,
  },
  'transcription-frame.schema.json': {
    $schema: 'http://json-schema.org/draft-07/schema#',
    ...transcriptionFrameSchema,
  },
  'delivery-receipt.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...deliveryReceiptSchema },
  'cached-answer.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...cachedAnswerSchema },
  'worker-beat.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...workerBeatSchema },
};

/** How a document is written to disk: two-space JSON with a final newline. */
export function renderJsonDocument(document: object): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
