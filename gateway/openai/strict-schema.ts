import { AgentbusError } from '../../bus-schemas/index.js';
import type { JsonSchemaFormat } from './chat-completion-request.schema.js';

/**
 * Refuses a strict structured output (`json_schema` with `strict: true`) whose schema's root is
 * not `"type": "object"`, with a 400 naming the schema, as OpenAI does: a client asking for a
 * strict answer parses it as one object, and another root (a string, an array, an anyOf) would
 * hold the model to what OpenAI itself never writes. Without `strict` any schema only guides.
 */
export function checkStrictSchemaRoot(format: JsonSchemaFormat): void {
  if (format.strict !== true || format.schema === undefined) return;
  const type = format.schema['type'];
  if (type === 'object') return;
  const got = type === undefined ? 'no type' : `'type: ${JSON.stringify(type)}'`;
  throw new AgentbusError(
    'invalid_request',
    `Invalid schema for response_format '${format.name}': a strict schema must be a JSON Schema of ` +
      `'type: "object"', got ${got}.`,
    { param: 'response_format.json_schema.schema' },
  );
}
