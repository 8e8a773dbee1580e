import { set, type UnsupportedParameter } from './unsupported-parameters.js';

// Chat Completions' audio output has no Responses counterpart.
const NO_AUDIO_OUTPUT =
  'audio output is not available on /v1/responses; use /v1/chat/completions with modalities, or /v1/audio/speech';

/**
 * Responses API parameters agentbus cannot honour: asking for one is a 400 naming it, as on
 * `/v1/chat/completions`. Values that change nothing (background: false, truncation:
 * "disabled", reasoning.summary: "auto") pass.
 */
export const UNSUPPORTED_RESPONSES_PARAMETERS: readonly UnsupportedParameter[] = [
  // Anything but the no-op values asks for something: a mistyped `"background": "true"` or
  // `"include": "reasoning.encrypted_content"` (no array) must not be silently dropped either.
  {
    param: 'background',
    requested: (b) => set(b['background']) && b['background'] !== false,
    why: 'background responses are not supported',
  },
  {
    param: 'include',
    requested: (b) => set(b['include']) && !(Array.isArray(b['include']) && b['include'].length === 0),
    why: 'no extra output (logprobs, encrypted reasoning, tool results) can be included',
  },
  {
    param: 'reasoning.summary',
    requested: (b) => {
      const reasoning = b['reasoning'] as Record<string, unknown> | null | undefined;
      return set(reasoning) && set(reasoning['summary']) && reasoning['summary'] !== 'auto';
    },
    why:
      'no summarizer model exists to shorten the thinking, which comes back whole as a reasoning item; ' +
      '"auto" is accepted (the most detailed summary available: none)',
  },
  {
    param: 'truncation',
    requested: (b) => set(b['truncation']) && b['truncation'] !== 'disabled',
    why: 'only "disabled" is supported: agentbus keeps a window of recent turns as history instead',
  },
  {
    param: 'top_logprobs',
    requested: (b) => set(b['top_logprobs']) && b['top_logprobs'] !== 0,
    why: 'log probabilities are not supported',
  },
  { param: 'prompt', requested: (b) => set(b['prompt']), why: 'stored prompt templates are not supported' },
  { param: 'max_tool_calls', requested: (b) => set(b['max_tool_calls']), why: 'max_tool_calls is not supported' },
  // Chat Completions' audio output, which the Responses API does not have: refused, never silently text.
  {
    param: 'modalities',
    requested: (b) => Array.isArray(b['modalities']) && b['modalities'].some((m) => m !== 'text'),
    why: NO_AUDIO_OUTPUT,
  },
  {
    param: 'audio',
    requested: (b) => set(b['audio']),
    why: NO_AUDIO_OUTPUT,
  },
];
