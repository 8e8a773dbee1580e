import { headers as natsHeaders } from '@nats-io/transport-node';
import t from 'tap';
import {
  EMBED_HEARTBEAT_HEADER,
  PROTOCOL_VERSION,
  decodeEmbedReply,
  encodeJson,
  type EmbedRequest,
} from '../../bus-schemas/index.js';
import type { BusMessage } from '../../common/bus.js';
import { handleEmbedRequest } from '../../workers/embed-handler.js';
import { progressIfAsked, startEmbedProgress } from '../../workers/embeddings/embed-progress.js';
import { InFlight } from '../../workers/in-flight.js';
import type { ProviderChains } from '../../workers/providers/chain.js';
import type { ProviderEmbedRequest } from '../../workers/providers/types.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { agentWith, recordingLogger } from '../helpers/fake-provider.js';

// The worker's side of embeddings progress: `ack` and heartbeats only for a requester that asked,
// and a requester found gone (its inbox answers "no responders") stops that attempt's batch.
const INBOX = '_INBOX.gateway.chat.nomic.unit';

/** A worker bus with the gateway's inbox on it, recording what arrives there. */
function setUp() {
  const clock = new FakeClock();
  const bus = new FakeBus('worker', clock);
  const got: BusMessage[] = [];
  const inbox = bus.subscribe(INBOX, { callback: (_err, msg) => got.push(msg) });
  const types = () => got.map((msg) => decodeEmbedReply(msg.data).type);
  return { clock, bus, got, inbox, types };
}

t.test('ack at once, then a heartbeat (as a probe) each interval, until stopped', async (t) => {
  const { clock, bus, got, types } = setUp();
  const stop = startEmbedProgress({
    bus,
    replySubject: INBOX,
    requestId: 'embd-1',
    worker: 'w1',
    intervalMs: 100,
    onRequesterGone: () => t.fail('the requester is there'),
    clock,
  });
  await settle();
  t.same(decodeEmbedReply(got[0]!.data), { type: 'ack', request_id: 'embd-1', worker: 'w1' });
  await clock.advance(300);
  t.same(types(), ['ack', 'heartbeat', 'heartbeat', 'heartbeat']);
  t.ok(got[1]!.reply, 'a heartbeat asks for an answer nobody gives: "no responders" would mean nobody listens');
  stop();
  await clock.advance(1_000);
  t.equal(got.length, 4, 'nothing after stop');
});

t.test('the requester gone: onRequesterGone once, and no more heartbeats', async (t) => {
  const { clock, bus, got, inbox } = setUp();
  let gone = 0;
  startEmbedProgress({
    bus,
    replySubject: INBOX,
    requestId: 'embd-1',
    worker: 'w1',
    intervalMs: 100,
    onRequesterGone: () => gone++,
    clock,
  });
  await clock.advance(100);
  inbox.unsubscribe();
  await clock.advance(500);
  t.equal(gone, 1);
  t.equal(bus.published.filter((m) => m.subject === INBOX).length, 3, 'ack, a heartbeat heard, one that found nobody');
  t.equal(got.length, 2);
});

t.test('no progress replies for a requester that did not ask (one from before), or asked out of bounds', async (t) => {
  for (const value of [undefined, '', '10', '60001', 'soon']) {
    const { clock, bus, got } = setUp();
    const h = natsHeaders();
    if (value !== undefined) h.set(EMBED_HEARTBEAT_HEADER, value);
    progressIfAsked(
      { reply: INBOX, headers: h },
      { bus, requestId: 'embd-1', worker: 'w1', onRequesterGone: () => undefined, clock },
    );
    await clock.advance(120_000);
    t.same(got, [], `header ${JSON.stringify(value)}`);
  }
});

const request: EmbedRequest = {
  v: PROTOCOL_VERSION,
  request_id: 'embd-2',
  intent: 'nomic',
  model: 'nomic',
  input: ['a long batch'],
  tenant: 'key_0123456789abcdef',
  timeout_ms: 600_000,
  created_at: 0,
};

/** Provider chains whose embeddings take until the test resolves them, or the request aborts. */
function slowChains() {
  const calls: Array<{ request: ProviderEmbedRequest; finish(): void }> = [];
  const chains = {
    embed: (_agent: unknown, embedRequest: ProviderEmbedRequest) =>
      new Promise((resolve, reject) => {
        const finish = () => resolve({ vectors: [[1, 0]], promptTokens: 3, provider: 'ollama', model: 'm' });
        calls.push({ request: embedRequest, finish });
        embedRequest.signal.addEventListener('abort', () => reject(embedRequest.signal.reason as Error));
      }),
  } as unknown as ProviderChains;
  return { calls, chains };
}

t.test('the handler: ack and heartbeats while the batch runs, then the vectors; nothing after', async (t) => {
  const { clock, bus, types } = setUp();
  const { calls, chains } = slowChains();
  const h = natsHeaders();
  h.set(EMBED_HEARTBEAT_HEADER, '100');
  const deps = { providers: chains, agent: agentWith('nomic'), log: recordingLogger().log, bus, workerId: 'w1', clock };
  const respond = (data: Uint8Array) => {
    bus.publish(INBOX, data);
    return true;
  };
  const handled = handleEmbedRequest(
    deps,
    { data: encodeJson(request), reply: INBOX, headers: h, respond },
    new InFlight(),
  );
  await clock.advance(250);
  t.same(types(), ['ack', 'heartbeat', 'heartbeat']);
  calls[0]!.finish();
  t.same(await handled, { ok: true });
  await clock.advance(1_000);
  t.same(types(), ['ack', 'heartbeat', 'heartbeat', 'embeddings']);
});

t.test('the handler: a requester gone stops its own attempt only, not a retry of the same id here', async (t) => {
  const { clock, bus, inbox } = setUp();
  const { calls, chains } = slowChains();
  const inFlight = new InFlight();
  const retry = inFlight.enter(request.request_id);
  const h = natsHeaders();
  h.set(EMBED_HEARTBEAT_HEADER, '100');
  const deps = { providers: chains, agent: agentWith('nomic'), log: recordingLogger().log, bus, workerId: 'w1', clock };
  const msg = { data: encodeJson(request), reply: INBOX, headers: h, respond: () => true };
  const handled = handleEmbedRequest(deps, msg, inFlight);
  await clock.advance(100);
  inbox.unsubscribe();
  await clock.advance(200);
  t.same(await handled, { ok: false, code: 'request_cancelled' });
  t.match(calls[0]!.request.signal.reason, { code: 'request_cancelled', message: /requester is gone/ });
  t.notOk(retry.signal.aborted, 'the other attempt runs on');
  retry.leave();
});
