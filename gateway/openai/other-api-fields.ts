import type { FastifyRequest } from 'fastify';
import { nonEmpty, rejectUnsupportedParameters, set, type UnsupportedParameter } from './unsupported-parameters.js';

type Api = 'Chat Completions' | 'Responses' | 'Ollama /api/generate';

/**
 * A field of another OpenAI API sent to this one. OpenAI answers it with 400 "Unknown parameter";
 * dropped quietly, a cap, a stop or a conversation a client moving between APIs set would not apply.
 * `instead` names what this API has in its place.
 */
function fieldOf(
  api: Api,
  param: string,
  instead: string,
  requested: (value: unknown) => boolean = set,
): UnsupportedParameter {
  const article = /^[AEIOU]/.test(api) ? 'an' : 'a';
  return { param, requested: (b) => requested(b[param]), why: `it is ${article} ${api} field; ${instead}` };
}

/** A `stop` that stops at something: a string or a non-empty list (as the chat schema takes it). */
const stopsAtSomething = (stop: unknown) => (typeof stop === 'string' ? stop !== '' : nonEmpty(stop));

/** How the chat routes continue a conversation, as the end of a refusal. */
const CONTINUE_WITH_HEADER = 'continue a conversation with the X-Session-ID header (session_id on the WebSocket)';

/** Chat Completions fields a Responses body does not have. */
export const CHAT_FIELDS_ON_RESPONSES: readonly UnsupportedParameter[] = [
  fieldOf('Chat Completions', 'messages', 'send the conversation as input'),
  fieldOf('Chat Completions', 'max_tokens', 'the Responses API caps the answer with max_output_tokens'),
  fieldOf('Chat Completions', 'max_completion_tokens', 'the Responses API caps the answer with max_output_tokens'),
  fieldOf('Chat Completions', 'response_format', 'the Responses API names it text.format'),
  fieldOf('Chat Completions', 'reasoning_effort', 'the Responses API names it reasoning.effort'),
  fieldOf('Chat Completions', 'verbosity', 'the Responses API names it text.verbosity'),
  fieldOf('Chat Completions', 'stop', 'the Responses API has no stop sequences', stopsAtSomething),
  fieldOf('Chat Completions', 'seed', 'the Responses API has no seed'),
  fieldOf('Chat Completions', 'n', 'the Responses API answers once', (n) => set(n) && n !== 1),
  fieldOf('Chat Completions', 'logit_bias', 'the Responses API has no logit_bias', nonEmpty),
  fieldOf('Chat Completions', 'frequency_penalty', 'the Responses API has no penalties'),
  fieldOf('Chat Completions', 'presence_penalty', 'the Responses API has no penalties'),
];

/** Responses fields a Chat Completions body does not have (the chat schema lets unknown fields through). */
export const RESPONSES_FIELDS_ON_CHAT: readonly UnsupportedParameter[] = [
  fieldOf('Responses', 'input', 'send the conversation as messages'),
  fieldOf('Responses', 'instructions', 'send them as a system message'),
  fieldOf('Responses', 'max_output_tokens', 'Chat Completions caps the answer with max_completion_tokens'),
  fieldOf('Responses', 'previous_response_id', CONTINUE_WITH_HEADER),
  fieldOf('Responses', 'conversation', CONTINUE_WITH_HEADER),
  fieldOf('Responses', 'text', 'Chat Completions names its format response_format'),
];

/** A `tool_choice` that may call a tool: anything set but "none". */
const mayCallTool = (choice: unknown) => set(choice) && choice !== 'none';

/** A `response_format` or `text.format` that asks for more than plain text. */
const notPlainText = (value: unknown) =>
  set(value) && !(typeof value === 'object' && (value as { type?: unknown }).type === 'text');

/**
 * Fields of the chat APIs a legacy Completions body does not have. Tools and an output format
 * too: the text completion has no tool calls and no schema, so a client asking for JSON or a
 * tool call would silently get plain text.
 */
export const CHAT_FIELDS_ON_COMPLETIONS: readonly UnsupportedParameter[] = [
  fieldOf('Chat Completions', 'messages', 'the Completions API takes one prompt'),
  fieldOf('Responses', 'input', 'the Completions API takes one prompt'),
  fieldOf('Chat Completions', 'max_completion_tokens', 'the Completions API caps the answer with max_tokens'),
  fieldOf('Responses', 'max_output_tokens', 'the Completions API caps the answer with max_tokens'),
  fieldOf('Chat Completions', 'tools', 'the Completions API has no tool calls: use /v1/chat/completions', nonEmpty),
  // The chat route's refusal of these says "send tools instead", which this API refuses too.
  fieldOf('Chat Completions', 'functions', 'the Completions API has no tool calls: use /v1/chat/completions', nonEmpty),
  fieldOf(
    'Chat Completions',
    'function_call',
    'the Completions API has no tool calls: use /v1/chat/completions',
    (call) => mayCallTool(call) && call !== 'auto',
  ),
  fieldOf(
    'Chat Completions',
    'tool_choice',
    'the Completions API has no tool calls: use /v1/chat/completions',
    mayCallTool,
  ),
  fieldOf(
    'Chat Completions',
    'response_format',
    'the Completions API answers plain text: use /v1/chat/completions for JSON output',
    notPlainText,
  ),
  fieldOf('Responses', 'text', 'the Completions API answers plain text', (text) =>
    notPlainText((text as { format?: unknown } | null | undefined)?.format),
  ),
  fieldOf('Responses', 'instructions', 'put them in the prompt'),
  fieldOf('Chat Completions', 'reasoning_effort', 'the Completions API has no reasoning settings'),
];

// Where the field is honoured, as the end of a refusal.
const USE_CHAT_ROUTE = 'use POST /v1/chat/completions';
const USE_RESPONSES_ROUTE = 'use POST /v1/responses';
const ONE_QUESTION = '/query takes one question as query; continue a conversation with session_id';

/** A Responses `text` that asks for a format other than plain text, or for a verbosity. */
const textSetsFormatOrVerbosity = (text: unknown) => {
  const { format, verbosity } = (typeof text === 'object' && text !== null ? text : {}) as Record<string, unknown>;
  return notPlainText(format) || set(verbosity);
};

/** A list or object with something in it, or any other value but null and "" (`images: "<base64>"` asks too). */
const askedFor = (value: unknown) =>
  typeof value === 'object' && value !== null ? nonEmpty(value) : set(value) && value !== '';

/**
 * Fields of the chat APIs and of Ollama's `/api/generate` that `POST /query` does not carry (its
 * schema lets unknown fields through): a client moving to or from those routes would silently
 * lose images, an output format, tools or sampling settings.
 */
export const OTHER_FIELDS_ON_QUERY: readonly UnsupportedParameter[] = [
  fieldOf('Chat Completions', 'messages', ONE_QUESTION),
  fieldOf('Responses', 'input', ONE_QUESTION),
  fieldOf('Ollama /api/generate', 'prompt', '/query takes the question as query'),
  fieldOf(
    'Ollama /api/generate',
    'images',
    `/query takes text only: ${USE_CHAT_ROUTE} or POST /api/generate`,
    askedFor,
  ),
  fieldOf(
    'Ollama /api/generate',
    'format',
    `/query answers plain text: ${USE_CHAT_ROUTE} or POST /api/generate`,
    (f) => set(f) && f !== '',
  ),
  fieldOf('Ollama /api/generate', 'think', 'use POST /api/generate'),
  fieldOf(
    'Ollama /api/generate',
    'options',
    '/query takes only temperature and max_tokens, at the top level',
    askedFor,
  ),
  fieldOf('Chat Completions', 'tools', `/query has no tool calls: ${USE_CHAT_ROUTE}`, nonEmpty),
  fieldOf('Chat Completions', 'tool_choice', `/query has no tool calls: ${USE_CHAT_ROUTE}`, mayCallTool),
  fieldOf('Chat Completions', 'response_format', `/query answers plain text: ${USE_CHAT_ROUTE}`, notPlainText),
  fieldOf('Chat Completions', 'max_completion_tokens', '/query caps the answer with max_tokens'),
  fieldOf('Responses', 'max_output_tokens', '/query caps the answer with max_tokens'),
  fieldOf('Responses', 'instructions', 'send them as system'),
  fieldOf('Responses', 'previous_response_id', '/query continues a conversation with session_id'),
  fieldOf('Responses', 'conversation', '/query continues a conversation with session_id'),
  fieldOf(
    'Responses',
    'text',
    `/query has no text.format or text.verbosity: ${USE_RESPONSES_ROUTE}`,
    textSetsFormatOrVerbosity,
  ),
  fieldOf('Chat Completions', 'verbosity', `/query has no verbosity setting: ${USE_CHAT_ROUTE}`),
  fieldOf('Chat Completions', 'reasoning_effort', `/query has no reasoning settings: ${USE_CHAT_ROUTE}`),
  fieldOf('Responses', 'reasoning', `/query has no reasoning settings: ${USE_RESPONSES_ROUTE}`, (reasoning) =>
    set((reasoning as { effort?: unknown } | null | undefined)?.effort),
  ),
  fieldOf('Chat Completions', 'stop', `/query has no stop sequences: ${USE_CHAT_ROUTE}`, stopsAtSomething),
  fieldOf('Chat Completions', 'top_p', `/query takes temperature only: ${USE_CHAT_ROUTE}`),
  fieldOf('Chat Completions', 'seed', `/query has no seed: ${USE_CHAT_ROUTE}`),
  fieldOf('Chat Completions', 'presence_penalty', `/query has no penalties: ${USE_CHAT_ROUTE}`),
  fieldOf('Chat Completions', 'frequency_penalty', `/query has no penalties: ${USE_CHAT_ROUTE}`),
];

/** The fields that carry the conversation on the chat APIs (and the prompt of the text ones). */
const CONVERSATION_FIELDS = new Set(['messages', 'input', 'prompt']);

/**
 * Refuses a body (or WebSocket frame) that lacks `own`, the field this API carries the
 * conversation in (`messages`, `input`, `prompt`), and carries another API's instead (a client
 * moving between the APIs, a URL swapped): the 400 names the field it sent and what this API
 * takes in its place. The schema would say only "input is required", as if no conversation had
 * been sent. Anything else is left to the schema.
 */
export function refuseOtherApiConversation(body: unknown, own: string, fields: readonly UnsupportedParameter[]): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const record = body as Record<string, unknown>;
  if (set(record[own])) return;
  rejectUnsupportedParameters(
    record,
    fields.filter((field) => CONVERSATION_FIELDS.has(field.param)),
  );
}

/** {@link refuseOtherApiConversation} as a route's preValidation hook: before the schema's "is required". */
export function otherApiConversationFirst(own: string, fields: readonly UnsupportedParameter[]) {
  return async (request: FastifyRequest): Promise<void> => refuseOtherApiConversation(request.body, own, fields);
}
