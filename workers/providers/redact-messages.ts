import type { ChatMessage } from '../../bus-schemas/index.js';
import type { Redactor } from '../../common/redaction.js';

/**
 * The messages with every secret in their text masked, for a provider that runs off this
 * machine. Tool-call arguments are left alone: masking inside JSON could break it.
 */
export function redactMessages(messages: readonly ChatMessage[], redactor: Redactor): ChatMessage[] {
  return messages.map((message) => {
    const content = redactor.redact(message.content);
    return content === message.content ? message : { ...message, content };
  });
}
