/**
 * The agentbus wire contract: subjects, the chat request envelope, reply frames, the error
 * table and the validators both ends use. No I/O happens in this package.
 */
export * from './version.js';
export * from './subjects.js';
export * from './errors.js';
export * from './tools.schema.js';
export * from './chat-request.schema.js';
export * from './reply-frames.schema.js';
export * from './cancel-request.schema.js';
export * from './worker-beat.schema.js';
export * from './delivery-receipt.schema.js';
export * from './cached-answer.schema.js';
export * from './memory-query.schema.js';
export * from './memory-response.schema.js';
export * from './embed.schema.js';
export * from './speech.schema.js';
export * from './transcription.schema.js';
export * from './validate.js';
export * from './lazy-validator.js';
export * from './ajv.js';
export * from './codec.js';
export * from './json-documents.js';
export * from './embed-vectors.js';
