import type { UnsupportedParameter } from '../openai/unsupported-parameters.js';

/**
 * Whether a client asks for an Ollama field. Ollama reads `""`, `[]` and `false` as "none", and its
 * Python client sends `suffix: ""`, `template: ""`, `context: []` and `raw: false` on every call:
 * those ask for nothing.
 */
function asksOllama(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '') return false;
  return !(Array.isArray(value) && value.length === 0);
}

const field = (param: string, why: string): UnsupportedParameter => ({
  param,
  requested: (body) => asksOllama(body[param]),
  why,
});

/**
 * Ollama `/api/generate` fields no route of agentbus honours, refused there and on `/query` (a
 * client moving between the two): refusing them beats answering as if they were applied.
 */
export const OLLAMA_FIELDS_NOT_HONOURED: readonly UnsupportedParameter[] = [
  field(
    'context',
    'the Ollama "context" token array is not kept; continue a conversation with session_id or X-Session-ID',
  ),
  field('raw', "raw prompts are not supported; agentbus builds the prompt from the agent's system prompt and memory"),
  field('template', 'prompt templates are not supported'),
  field('suffix', 'fill-in-the-middle (suffix) is not supported'),
];
