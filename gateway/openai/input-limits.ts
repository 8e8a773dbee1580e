import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatBody } from './chat-completion-request.schema.js';

/** Bounds on what one chat request may carry (gateway/config.ts reads them; README "Input limits"). */
export interface InputLimits {
  /** MAX_MESSAGES: messages in one request. */
  maxMessages: number;
  /**
   * MAX_MESSAGE_CHARS: characters (UTF-16 code units) of one message's text, its text parts and
   * tool call arguments summed.
   */
  maxMessageChars: number;
  /**
   * MAX_INPUT_CHARS: characters of all the request's messages together (text, text parts and tool
   * call arguments): what one stored turn keeps of the input, so it bounds a turn's size.
   */
  maxInputChars: number;
  /** MAX_JSON_DEPTH: nesting of objects and arrays in a body or WebSocket frame. */
  maxJsonDepth: number;
  /** MAX_TOOLS: tool definitions in one request. */
  maxTools: number;
  /**
   * MAX_TOOL_SCHEMA_BYTES: bytes of one tool definition as JSON (its parameters schema included),
   * and of response_format.
   */
  maxToolSchemaBytes: number;
}

type Message = ChatBody['messages'][number];
type Content = Message['content'];

/** The text a message's content carries: the string, or its text and refusal parts summed. */
function textLength(content: Content): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let length = 0;
  for (const part of content) {
    if (typeof part.text === 'string') length += part.text.length;
    if (typeof part.refusal === 'string') length += part.refusal.length;
  }
  return length;
}

/** Characters of a message's tool call arguments: they are copied into the envelope and stored like its text. */
function toolArgumentsLength(message: Message): number {
  let length = 0;
  for (const call of message.tool_calls ?? []) {
    if (typeof call.function?.arguments === 'string') length += call.function.arguments.length;
  }
  return length;
}

/** Refuses a text longer than MAX_MESSAGE_CHARS, naming `param` (the legacy routes' `prompt`, …). */
export function checkTextLength(text: string | undefined, param: string, limits: InputLimits): void {
  if (text !== undefined && text.length > limits.maxMessageChars) {
    throw new AgentbusError(
      'message_too_long',
      `${param} is ${text.length} characters long; MAX_MESSAGE_CHARS allows ${limits.maxMessageChars}.`,
      { param },
    );
  }
}

/**
 * Refuses a chat body over the input limits, each with its own code and the field at fault.
 * Every route and the WebSocket call it through `startChatCall`, before anything is published,
 * so a refused request costs no model call and writes no memory. The JSON depth is checked
 * earlier, on the raw text (gateway/http/parse-json.ts).
 */
export function checkInputLimits(body: ChatBody, limits: InputLimits): void {
  const { messages } = body;
  if (messages.length > limits.maxMessages) {
    throw new AgentbusError(
      'too_many_messages',
      `The request has ${messages.length} messages; MAX_MESSAGES allows ${limits.maxMessages}. ` +
        'Send a shorter history (the session keeps earlier turns).',
      { param: 'messages' },
    );
  }
  let total = 0;
  messages.forEach((message, index) => {
    const text = textLength(message.content);
    const args = toolArgumentsLength(message);
    total += text + args;
    if (text + args > limits.maxMessageChars) {
      // Named after what carries the bulk: the arguments when there are any, else the text.
      const param = args > 0 ? `messages[${index}].tool_calls` : `messages[${index}].content`;
      const what =
        args > 0
          ? `messages[${index}] carries ${text + args} characters (content and tool call arguments together)`
          : `messages[${index}].content is ${text} characters long`;
      throw new AgentbusError('message_too_long', `${what}; MAX_MESSAGE_CHARS allows ${limits.maxMessageChars}.`, {
        param,
      });
    }
  });
  if (total > limits.maxInputChars) {
    throw new AgentbusError(
      'request_too_large',
      `The request's messages carry ${total} characters in all; MAX_INPUT_CHARS allows ${limits.maxInputChars} ` +
        '(it bounds what one turn stores). Send a shorter input (the session keeps earlier turns).',
      { param: 'messages' },
    );
  }
  const tools = body.tools ?? [];
  if (tools.length > limits.maxTools) {
    throw new AgentbusError(
      'too_many_tools',
      `The request defines ${tools.length} tools; MAX_TOOLS allows ${limits.maxTools}.`,
      { param: 'tools' },
    );
  }
  tools.forEach((tool, index) => {
    // Depth is bounded by MAX_JSON_DEPTH already, so this stringify cannot recurse far.
    const bytes = Buffer.byteLength(JSON.stringify(tool));
    if (bytes > limits.maxToolSchemaBytes) {
      throw new AgentbusError(
        'tool_schema_too_large',
        `tools[${index}] is ${bytes} bytes as JSON; MAX_TOOL_SCHEMA_BYTES allows ${limits.maxToolSchemaBytes}.`,
        { param: `tools[${index}]` },
      );
    }
  });
  // A structured-output schema (response_format, the legacy routes' `format`) travels and is
  // kept like a tool's parameters: the same bound.
  const format = body.response_format;
  if (format != null && typeof format === 'object') {
    const bytes = Buffer.byteLength(JSON.stringify(format));
    if (bytes > limits.maxToolSchemaBytes) {
      throw new AgentbusError(
        'tool_schema_too_large',
        `response_format is ${bytes} bytes as JSON; ` +
          `MAX_TOOL_SCHEMA_BYTES allows ${limits.maxToolSchemaBytes} for a schema.`,
        { param: 'response_format' },
      );
    }
  }
}
