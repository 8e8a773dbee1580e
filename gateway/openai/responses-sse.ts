import type { FastifyReply } from 'fastify';
import type { AgentbusError, DeltaFrame, DoneFrame, ToolCall } from '../../bus-schemas/index.js';
import type { Call } from '../call/call.js';
import type { ChatIdentity } from '../chat/types.js';
import { relayStream, type StreamFormat, type StreamRelayOptions } from '../http/stream-relay.js';
import {
  functionCallItem,
  functionCallItemId,
  messageItem,
  messageItemId,
  outputText,
  reasoningItem,
  reasoningItemId,
  reasoningText,
  responseObject,
  type OutputItem,
  type ResponseEcho,
} from './responses-object.js';

/** An output item being streamed: the thinking, the message, or one tool call (by its fragment index). */
interface OpenItem {
  index: number;
  kind: 'reasoning' | 'message' | 'function_call';
  text: string;
  call?: ToolCall;
}

/**
 * The Responses API's event sequence for one answer, as a stream format: `response.created` and
 * `response.in_progress`; per output item `response.output_item.added`, its deltas
 * (`response.output_text.delta` within a content part, `response.function_call_arguments.delta`)
 * and their `.done` events, `response.output_item.done`; then `response.completed` (or
 * `response.incomplete` when cut by max_output_tokens). A failure mid-answer is an `error` event
 * and `response.failed`. Every event carries its `sequence_number`.
 */
export function responsesEventFormat(identity: ChatIdentity, echo: ResponseEcho): StreamFormat {
  let sequence = 0;
  const output: OutputItem[] = [];
  let open: OpenItem | undefined;
  let toolCount = 0;
  const calls = new Map<number, OpenItem>();
  const event = (type: string, payload: Record<string, unknown>) =>
    `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`;

  const messageId = messageItemId(identity.id);
  const reasoningId = reasoningItemId(identity.id);
  const closeOpen = () => {
    if (!open) return '';
    const item = open;
    open = undefined;
    if (item.kind === 'reasoning') {
      const done = reasoningItem(reasoningId, item.text);
      output[item.index] = done;
      const at = { item_id: reasoningId, output_index: item.index, content_index: 0 };
      return (
        event('response.reasoning_text.done', { ...at, text: item.text }) +
        event('response.content_part.done', { ...at, part: reasoningText(item.text) }) +
        event('response.output_item.done', { output_index: item.index, item: done })
      );
    }
    if (item.kind === 'message') {
      const done = messageItem(messageId, item.text);
      output[item.index] = done;
      const at = { item_id: messageId, output_index: item.index, content_index: 0 };
      return (
        event('response.output_text.done', { ...at, text: item.text, logprobs: [] }) +
        event('response.content_part.done', { ...at, part: outputText(item.text) }) +
        event('response.output_item.done', { output_index: item.index, item: done })
      );
    }
    const done = functionCallItem(output[item.index]!.id, item.call!);
    output[item.index] = done;
    return (
      event('response.function_call_arguments.done', {
        item_id: done.id,
        output_index: item.index,
        name: done.name,
        arguments: done.arguments,
      }) + event('response.output_item.done', { output_index: item.index, item: done })
    );
  };

  /** Opens the message item (closing a tool call before it): its `added` events. */
  const openMessage = () => {
    const out = closeOpen();
    open = { index: output.length, kind: 'message', text: '' };
    const item = messageItem(messageId, '', 'in_progress');
    output.push(item);
    const at = { item_id: messageId, output_index: open.index, content_index: 0 };
    return (
      out +
      event('response.output_item.added', { output_index: open.index, item }) +
      event('response.content_part.added', { ...at, part: outputText('') })
    );
  };

  const text = (delta: string) => {
    const opening = open?.kind === 'message' ? '' : openMessage();
    open!.text += delta;
    const at = { item_id: messageId, output_index: open!.index, content_index: 0 };
    return opening + event('response.output_text.delta', { ...at, delta, logprobs: [] });
  };

  /** Thinking: one reasoning item with one reasoning_text part, before the answer. */
  const thinking = (delta: string) => {
    let opening = '';
    if (open?.kind !== 'reasoning') {
      opening = closeOpen();
      open = { index: output.length, kind: 'reasoning', text: '' };
      const item = reasoningItem(reasoningId, '', 'in_progress');
      output.push(item);
      const at = { item_id: reasoningId, output_index: open.index, content_index: 0 };
      opening +=
        event('response.output_item.added', { output_index: open.index, item }) +
        event('response.content_part.added', { ...at, part: reasoningText('') });
    }
    open.text += delta;
    const at = { item_id: reasoningId, output_index: open.index, content_index: 0 };
    return opening + event('response.reasoning_text.delta', { ...at, delta });
  };

  const toolFragment = (fragment: NonNullable<DeltaFrame['tool_calls']>[number]) => {
    let out = '';
    let item = calls.get(fragment.index);
    if (!item) {
      out += closeOpen();
      const call: ToolCall = {
        id: fragment.id ?? '',
        type: 'function',
        function: { name: fragment.function.name ?? '', arguments: '' },
      };
      item = { index: output.length, kind: 'function_call', text: '', call };
      calls.set(fragment.index, item);
      open = item;
      const added = functionCallItem(functionCallItemId(identity.id, toolCount++), call, 'in_progress');
      output.push(added);
      out += event('response.output_item.added', { output_index: item.index, item: added });
    }
    const delta = fragment.function.arguments;
    item.call!.function.arguments += delta;
    if (delta !== '' && open === item)
      out += event('response.function_call_arguments.delta', {
        item_id: output[item.index]!.id,
        output_index: item.index,
        delta,
      });
    return out;
  };

  return {
    contentType: 'text/event-stream; charset=utf-8',
    headers: { connection: 'keep-alive' },
    keepAlive: ': keep-alive\n\n',
    opening: () => {
      const response = responseObject(identity, echo, []);
      return event('response.created', { response }) + event('response.in_progress', { response });
    },
    delta: (frame: DeltaFrame) =>
      (frame.reasoning !== undefined && frame.reasoning !== '' ? thinking(frame.reasoning) : '') +
      (frame.content !== undefined && frame.content !== '' ? text(frame.content) : '') +
      (frame.tool_calls ?? []).map(toolFragment).join(''),
    done: (frame: DoneFrame) => {
      // An empty answer is still one (empty) message, as the JSON response has it.
      const answered = output.some((item) => item.type !== 'reasoning');
      const closing = answered ? closeOpen() : openMessage() + closeOpen();
      const response = responseObject(identity, echo, output, { done: frame });
      const type = response.status === 'incomplete' ? 'response.incomplete' : 'response.completed';
      return closing + event(type, { response });
    },
    error: (error: AgentbusError) => {
      const failure = { code: error.code, message: error.message };
      return (
        event('error', { ...failure, param: error.param }) +
        event('response.failed', { response: responseObject(identity, echo, output, { error: failure }) })
      );
    },
  };
}

/** Relays reply frames as the Responses API's server-sent events. */
export function relayAsResponseEvents(
  reply: FastifyReply,
  call: Call,
  options: StreamRelayOptions & { identity: ChatIdentity; echo: ResponseEcho },
): Promise<void> {
  return relayStream(reply, call, options, responsesEventFormat(options.identity, options.echo));
}
