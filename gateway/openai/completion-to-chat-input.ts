import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatInput } from '../chat/types.js';
import { ID_PREFIXES } from '../chat/id-prefixes.js';
import type { ChatBody } from './chat-completion-request.schema.js';
import type { CompletionBody } from './completion-request.schema.js';
import { checkInputLimits, type InputLimits } from './input-limits.js';
import { checkStreamOptions, samplingOptions } from './to-chat-input.js';
import { CHAT_FIELDS_ON_COMPLETIONS } from './other-api-fields.js';
import { rejectUnsupportedParameters, set, type UnsupportedParameter } from './unsupported-parameters.js';

// What the legacy route asks for that the chat pipeline cannot do: refused by name, never dropped.
const UNSUPPORTED: readonly UnsupportedParameter[] = [
  {
    param: 'suffix',
    requested: (b) => set(b['suffix']) && b['suffix'] !== '',
    why: 'insertion (fill-in-the-middle) is not supported by the chat pipeline agentbus answers with',
  },
  {
    param: 'echo',
    requested: (b) => b['echo'] === true,
    why: 'the prompt is not repeated in the answer; prepend it yourself',
  },
  {
    param: 'best_of',
    requested: (b) => set(b['best_of']) && b['best_of'] !== 1,
    why: 'only one completion is generated per request (best_of must be 1)',
  },
  {
    // 0 too: OpenAI then still returns the log probability of each chosen token.
    param: 'logprobs',
    requested: (b) => set(b['logprobs']),
    why: 'log probabilities are not supported',
  },
];

/** The one prompt as text: a string, or an array holding exactly one string. */
function promptText(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  const list = prompt as unknown[];
  // Token ids first: `[1, 2, 3]` is one prompt of three tokens, not three prompts.
  if (list.some((item) => typeof item === 'number' || Array.isArray(item))) {
    throw new AgentbusError(
      'invalid_request',
      'Prompts given as token ids are not supported: agents are addressed with text, ' +
        "and their models' tokenizers differ. Send the prompt as a string.",
      { param: 'prompt' },
    );
  }
  if (list.length !== 1) {
    throw new AgentbusError(
      'invalid_request',
      `"prompt" holds ${list.length} prompts: send one prompt per request ` + '(a string, or an array of one string).',
      { param: 'prompt' },
    );
  }
  if (typeof list[0] !== 'string') {
    throw new AgentbusError('invalid_request', '"prompt" must be a string, or an array of one string.', {
      param: 'prompt',
    });
  }
  return list[0];
}

/**
 * The chat input of a legacy completions body: the prompt becomes the one user message (after
 * the agent's system prompt and examples, as for any chat), sampling maps as on the chat route.
 * Parameters that cannot be honoured are 400s naming them.
 */
export function completionToChatInput(body: CompletionBody, stream: boolean, limits: InputLimits): ChatInput {
  rejectUnsupportedParameters(body, UNSUPPORTED);
  // Before the chat routes' table, whose advice for a chat field would name the chat alternative.
  rejectUnsupportedParameters(body, CHAT_FIELDS_ON_COMPLETIONS);
  rejectUnsupportedParameters(body);
  checkStreamOptions(body, stream);
  const content = promptText(body.prompt);
  const asChat: ChatBody = {
    messages: [{ role: 'user', content }],
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.max_tokens != null ? { max_tokens: body.max_tokens } : {}),
    ...(body.stop != null ? { stop: body.stop } : {}),
    ...(body.seed != null ? { seed: body.seed } : {}),
    ...(body.presence_penalty != null ? { presence_penalty: body.presence_penalty } : {}),
    ...(body.frequency_penalty != null ? { frequency_penalty: body.frequency_penalty } : {}),
  };
  try {
    checkInputLimits(asChat, limits);
  } catch (err) {
    throw inCompletionTerms(err);
  }
  return {
    model: body.model,
    messages: [{ role: 'user', content }],
    options: samplingOptions(asChat),
    ...(body.user != null ? { user: body.user } : {}),
    ...(body.store === false ? { store: false } : {}),
    stream,
    idPrefix: ID_PREFIXES.completion,
  };
}

/**
 * How a route that takes one text (not `messages`) names the chat fields its body became:
 * `prompt` (`/v1/completions`, `/api/generate`) or `query` (`/query`); the index of the user
 * message (1 after a body's own `system`); the answer's cap (`options.num_predict` on
 * `/api/generate`); the field `response_format` came from (`format`); the field the user
 * message's images came from (`images`), when the body sent some; and the one `reasoning_effort`
 * came from (`think`).
 */
export interface PromptTerms {
  readonly text: 'prompt' | 'query';
  readonly userIndex?: number;
  readonly maxTokens?: string;
  readonly responseFormat?: string;
  readonly images?: string;
  readonly reasoningEffort?: string;
}

const COMPLETION_TERMS: PromptTerms = { text: 'prompt' };

/**
 * An error raised on the chat input a one-text body became (by the input limits, the pipeline
 * or a worker), naming the body's own fields where it names the user message or the messages:
 * the workers' advice on a conversation too long for the context is said in chat's words, and a
 * client that sent one prompt reads it in the prompt's. The error itself when nothing is renamed.
 */
export function inPromptTerms(err: unknown, terms: PromptTerms): unknown {
  if (!(err instanceof AgentbusError)) return err;
  const { text, userIndex = 0, maxTokens = 'max_tokens', responseFormat, images, reasoningEffort } = terms;
  const user = new RegExp(`^messages(\\[${userIndex}\\](\\.content)?)?$`);
  const userInText = new RegExp(`\\bmessages\\[${userIndex}\\](\\.content)?(?![\\w[])`, 'g');
  let param = err.param === null ? null : err.param.replace(user, text);
  if (responseFormat !== undefined && param !== null) param = param.replace(/^response_format(?=$|\.)/, responseFormat);
  // A backend that takes no images refuses the message that holds them: the client sent them apart.
  if (images !== undefined && param === text && /\bimages\b/.test(err.message)) param = images;
  if (reasoningEffort !== undefined && param === 'reasoning_effort') param = reasoningEffort;
  const advice: readonly (readonly [RegExp, string])[] = [
    [/\b([Ss])end fewer or shorter messages\b/g, `$1end a shorter ${text}`],
    [/\breduce the messages or max_tokens\b/g, `shorten the ${text} or reduce ${maxTokens}`],
    [/\b(\d+) in the messages\b/g, `$1 in the ${text}`],
    ...(responseFormat !== undefined ? [[/\bresponse_format\b/g, responseFormat] as const] : []),
    ...(reasoningEffort !== undefined ? [[/\breasoning_effort\b/g, reasoningEffort] as const] : []),
    // Any other advice on the cap (a deadline's "send a smaller max_tokens than 1800").
    ...(maxTokens !== 'max_tokens' ? [[/\bmax_tokens\b/g, maxTokens] as const] : []),
  ];
  const message = advice.reduce(
    (said, [words, instead]) => said.replace(words, instead),
    err.message.replace(userInText, text),
  );
  if (param === err.param && message === err.message) return err;
  return err.restated({ message, param });
}

/**
 * An error raised on the chat input a completions body became, naming `prompt` where it names
 * the one user message or the messages.
 */
export function inCompletionTerms(err: unknown): unknown {
  return inPromptTerms(err, COMPLETION_TERMS);
}
