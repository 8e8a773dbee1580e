import type { ChatMessage } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';

/** The classifier sees at most this much of the user's text: enough to tell the topic, cheap to read. */
export const MAX_CLASSIFIED_CHARS = 2000;

/** The system and user messages that ask a model to name one of `candidates` for `text`. */
export function classifierMessages(candidates: readonly Agent[], text: string): ChatMessage[] {
  const list = candidates.map((agent) => `- ${agent.name}: ${agent.description}`).join('\n');
  const system = [
    "You are a request router. Pick the one agent below best suited to answer the user's message.",
    '',
    list,
    '',
    'Answer with only the agent name, exactly as written above. No other words.',
  ].join('\n');
  const shown = text.length > MAX_CLASSIFIED_CHARS ? `${text.slice(0, MAX_CLASSIFIED_CHARS)}\n[…truncated]` : text;
  return [
    { role: 'system', content: system },
    { role: 'user', content: shown },
  ];
}

// Models write `code_review`, "Code Review", code-review.; the separators inside a name may vary.
function namePattern(name: string): RegExp {
  const parts = name.split(/[_-]+/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(?<![\\p{L}\\p{N}])${parts.join('[\\s_-]+')}(?![\\p{L}\\p{N}])`, 'iu');
}

/** The candidate named earliest in the model's answer, or undefined when it names none. */
export function agentNamedIn(answer: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; at: number } | undefined;
  for (const name of candidates) {
    const at = answer.search(namePattern(name));
    if (at >= 0 && (best === undefined || at < best.at)) best = { name, at };
  }
  return best?.name;
}
