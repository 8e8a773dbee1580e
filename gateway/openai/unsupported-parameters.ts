import { AgentbusError } from '../../bus-schemas/index.js';

type Body = Record<string, unknown>;

export interface UnsupportedParameter {
  param: string;
  /** True when the request asks for something agentbus would otherwise silently drop. */
  requested(body: Body): boolean;
  why: string;
}

export const set = (value: unknown) => value !== undefined && value !== null;
export const nonEmpty = (value: unknown) =>
  Array.isArray(value)
    ? value.length > 0
    : typeof value === 'object' && value !== null && Object.keys(value).length > 0;

/**
 * OpenAI parameters agentbus cannot honour. Asking for one is a 400 naming it, never a silent
 * drop: a client relying on n > 1 or logprobs must learn at once that it got none. Values
 * that change nothing (n: 1, logprobs: false) pass. What a provider cannot honour (e.g. a
 * forced tool_choice on Ollama) is refused by that provider's parameter table.
 */
export const UNSUPPORTED_PARAMETERS: readonly UnsupportedParameter[] = [
  {
    param: 'n',
    requested: (b) => set(b['n']) && b['n'] !== 1,
    why: 'only one choice per request is supported (n must be 1)',
  },
  {
    param: 'functions',
    requested: (b) => nonEmpty(b['functions']),
    why: 'the deprecated "functions" parameter is not supported; send "tools" instead',
  },
  {
    param: 'function_call',
    requested: (b) => set(b['function_call']) && b['function_call'] !== 'none' && b['function_call'] !== 'auto',
    why: 'the deprecated "function_call" parameter is not supported; send "tool_choice" instead',
  },
  { param: 'logprobs', requested: (b) => b['logprobs'] === true, why: 'log probabilities are not supported' },
  {
    param: 'top_logprobs',
    requested: (b) => set(b['top_logprobs']) && b['top_logprobs'] !== 0,
    why: 'log probabilities are not supported',
  },
  {
    param: 'logit_bias',
    requested: (b) => nonEmpty(b['logit_bias']),
    why: 'logit_bias is not supported by the model backend',
  },
  // POST /v1/chat/completions speaks answers (chat-audio-request.ts) and takes these off first;
  // every other face (WebSocket, Responses, completions, legacy) refuses them here.
  {
    param: 'audio',
    requested: (b) => set(b['audio']),
    why: 'audio output is answered on POST /v1/chat/completions only',
  },
  {
    param: 'modalities',
    requested: (b) => Array.isArray(b['modalities']) && b['modalities'].some((m) => m !== 'text'),
    why: 'audio output is answered on POST /v1/chat/completions only',
  },
  { param: 'prediction', requested: (b) => set(b['prediction']), why: 'predicted outputs are not supported' },
  { param: 'web_search_options', requested: (b) => set(b['web_search_options']), why: 'web search is not supported' },
];

/** Throws a 400 `invalid_request` naming the first parameter the request asks for in vain. */
export function rejectUnsupportedParameters(
  body: Body,
  table: readonly UnsupportedParameter[] = UNSUPPORTED_PARAMETERS,
): void {
  const found = table.find((p) => p.requested(body));
  if (found)
    throw new AgentbusError('invalid_request', `"${found.param}" cannot be honoured: ${found.why}.`, {
      param: found.param,
    });
}
