import type { AgentbusError, DeltaFrame, DoneFrame, ToolCall } from '../../bus-schemas/index.js';
import type { ChatIdentity } from '../chat/types.js';
import {
  functionCallItem,
  functionCallItemId,
  messageItem,
  messageItemId,
  reasoningItem,
  reasoningItemId,
  reasoningText,
  responseObject,
  statusOf,
  type OutputItem,
  type ResponseEcho,
} from './responses-object.js';
import { messageStream, type MessageStream } from './responses-message-stream.js';

/** An output item being streamed: the thinking, the message, or one tool call (by its fragment index). */
interface OpenItem {
  index: number;
  kind: 'reasoning' | 'message' | 'function_call';
  text: string;
  call?: ToolCall;
  /** The message's content parts, the last one open. */
  message?: MessageStream;
}

/** A tool call by its fragment index: its arguments so far, and its output item once it has one. */
interface CallState {
  call: ToolCall;
  item?: OpenItem;
}

/** One event of the Responses API's stream: its `type`, its `sequence_number` and its payload. */
export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

/** Builds the events of one answer, frame by frame; each call returns the events it adds, in order. */
export interface ResponseEvents {
  /** `response.created` and `response.in_progress`. */
  opening(): ResponseEvent[];
  delta(frame: DeltaFrame): ResponseEvent[];
  /** Closes the open item and ends with `response.completed` (or `response.incomplete`). */
  done(frame: DoneFrame): ResponseEvent[];
  /** The `error` event of a failure mid-answer (SSE sends it before {@link failed}). */
  error(error: AgentbusError): ResponseEvent;
  /** `response.failed`, with the output so far. */
  failed(error: AgentbusError): ResponseEvent;
}

/**
 * The Responses API's event sequence for one answer, whatever carries it (SSE, WebSocket): `response.created` and
 * `response.in_progress`; per output item `response.output_item.added`, its deltas
 * (`response.output_text.delta` or `response.refusal.delta` within a content part,
 * `response.function_call_arguments.delta`)
 * and their `.done` events, `response.output_item.done`; then `response.completed` (or
 * `response.incomplete` when cut by max_output_tokens). A failure mid-answer is an `error` event
 * and `response.failed`. Every event carries its `sequence_number`.
 */
export function responsesEvents(identity: ChatIdentity, echo: ResponseEcho): ResponseEvents {
  let sequence = 0;
  const output: OutputItem[] = [];
  let open: OpenItem | undefined;
  let toolCount = 0;
  const calls = new Map<number, CallState>();
  // Calls begun while another call's item was open, in the order they began: a backend may
  // interleave parallel calls' fragments (0, 1, 0…), but items stream one after the other, so
  // these gather their arguments until the open one is done, then stream whole.
  let waiting: CallState[] = [];
  // Events of the frame being handled; each public method hands them over and starts afresh.
  let pending: ResponseEvent[] = [];
  const event = (type: string, payload: Record<string, unknown>): ResponseEvent => {
    const built = { type, sequence_number: sequence++, ...payload };
    pending.push(built);
    return built;
  };
  const flush = () => {
    const out = pending;
    pending = [];
    return out;
  };

  const messageId = messageItemId(identity.id);
  const reasoningId = reasoningItemId(identity.id);
  // `finishReason` is known only at `done`: an answer cut at max_output_tokens ends its message `incomplete`.
  /** Closes the open item, then streams each call that waited for it, whole, one after the other. */
  const closeOpen = (finishReason = 'stop') => {
    closeItem(finishReason);
    const released = waiting;
    waiting = [];
    for (const state of released) {
      openCall(state);
      closeItem(finishReason);
    }
  };

  const closeItem = (finishReason: string) => {
    if (!open) return;
    const item = open;
    open = undefined;
    if (item.kind === 'reasoning') {
      const done = reasoningItem(reasoningId, item.text);
      output[item.index] = done;
      const at = { item_id: reasoningId, output_index: item.index, content_index: 0 };
      event('response.reasoning_text.done', { ...at, text: item.text });
      event('response.content_part.done', { ...at, part: reasoningText(item.text) });
      event('response.output_item.done', { output_index: item.index, item: done });
      return;
    }
    if (item.kind === 'message') {
      item.message!.close();
      const done = messageItem(messageId, item.message!.parts(), statusOf(finishReason));
      output[item.index] = done;
      event('response.output_item.done', { output_index: item.index, item: done });
      return;
    }
    const done = functionCallItem(output[item.index]!.id, item.call!, statusOf(finishReason));
    output[item.index] = done;
    event('response.function_call_arguments.done', {
      item_id: done.id,
      output_index: item.index,
      name: done.name,
      arguments: done.arguments,
    });
    event('response.output_item.done', { output_index: item.index, item: done });
  };

  /**
   * The output of a failed response: the item still open holds what was sent of it, `incomplete`, and
   * so do the calls waiting for it, after it.
   */
  const outputAsCut = () => {
    const cut = output.slice();
    if (open?.kind === 'reasoning') cut[open.index] = reasoningItem(reasoningId, open.text, 'incomplete');
    else if (open?.kind === 'message') cut[open.index] = messageItem(messageId, open.message!.parts(), 'incomplete');
    else if (open) cut[open.index] = functionCallItem(output[open.index]!.id, open.call!, 'incomplete');
    waiting.forEach(({ call }, k) =>
      cut.push(functionCallItem(functionCallItemId(identity.id, toolCount + k), call, 'incomplete')),
    );
    return cut;
  };

  /** Opens the item of a call (closed before, if another was open): `added`, then its arguments so far. */
  const openCall = (state: CallState) => {
    const item: OpenItem = { index: output.length, kind: 'function_call', text: '', call: state.call };
    state.item = open = item;
    const empty = { ...state.call, function: { ...state.call.function, arguments: '' } };
    const added = functionCallItem(functionCallItemId(identity.id, toolCount++), empty, 'in_progress');
    output.push(added);
    event('response.output_item.added', { output_index: item.index, item: added });
    argumentsDelta(item, state.call.function.arguments);
  };

  const argumentsDelta = (item: OpenItem, delta: string) => {
    if (delta !== '')
      event('response.function_call_arguments.delta', {
        item_id: output[item.index]!.id,
        output_index: item.index,
        delta,
      });
  };

  /** The open message item's parts, the message opened first (with its `added` event) unless it is open. */
  const message = (): MessageStream => {
    if (open?.kind !== 'message') {
      closeOpen();
      const index = output.length;
      open = { index, kind: 'message', text: '', message: messageStream(messageId, index, event) };
      const item = messageItem(messageId, [], 'in_progress');
      output.push(item);
      event('response.output_item.added', { output_index: index, item });
    }
    return open.message!;
  };

  /** Thinking: one reasoning item with one reasoning_text part, before the answer. */
  const thinking = (delta: string) => {
    if (open?.kind !== 'reasoning') {
      closeOpen();
      open = { index: output.length, kind: 'reasoning', text: '' };
      const item = reasoningItem(reasoningId, '', 'in_progress');
      output.push(item);
      const at = { item_id: reasoningId, output_index: open.index, content_index: 0 };
      event('response.output_item.added', { output_index: open.index, item });
      event('response.content_part.added', { ...at, part: reasoningText('') });
    }
    open.text += delta;
    const at = { item_id: reasoningId, output_index: open.index, content_index: 0 };
    event('response.reasoning_text.delta', { ...at, delta });
  };

  /** A fragment of tool call `index`: its arguments add to that call's, whichever call came before. */
  const toolFragment = (fragment: NonNullable<DeltaFrame['tool_calls']>[number]) => {
    const delta = fragment.function.arguments;
    const known = calls.get(fragment.index);
    if (known) {
      known.call.function.arguments += delta;
      const item = known.item;
      if (item !== undefined && item === open) argumentsDelta(item, delta);
      // Done already (text came between): too late for its events, not for the response's output.
      else if (item !== undefined)
        output[item.index] = functionCallItem(output[item.index]!.id, known.call, output[item.index]!.status);
      return;
    }
    const call: ToolCall = {
      id: fragment.id ?? '',
      type: 'function',
      function: { name: fragment.function.name ?? '', arguments: delta },
    };
    const state: CallState = { call };
    calls.set(fragment.index, state);
    if (open?.kind === 'function_call') waiting.push(state);
    else {
      closeOpen();
      openCall(state);
    }
  };

  return {
    opening: () => {
      const response = responseObject(identity, echo, []);
      event('response.created', { response });
      event('response.in_progress', { response });
      return flush();
    },
    delta: (frame) => {
      if (frame.reasoning !== undefined && frame.reasoning !== '') thinking(frame.reasoning);
      if (frame.content !== undefined && frame.content !== '') message().append('output_text', frame.content);
      if (frame.refusal !== undefined && frame.refusal !== '') message().append('refusal', frame.refusal);
      (frame.tool_calls ?? []).forEach(toolFragment);
      return flush();
    },
    done: (frame) => {
      // An empty answer is still one (empty) message, as the JSON response has it.
      if (!output.some((item) => item.type !== 'reasoning')) message().ensure('output_text');
      closeOpen(frame.finish_reason);
      const response = responseObject(identity, echo, output, { done: frame });
      event(response.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response });
      return flush();
    },
    error: (error) => {
      const built = event('error', { code: error.code, message: error.message, param: error.param });
      flush();
      return built;
    },
    failed: (error) => {
      const failure = { code: error.code, message: error.message };
      const built = event('response.failed', {
        response: responseObject(identity, echo, outputAsCut(), { error: failure }),
      });
      flush();
      return built;
    },
  };
}
