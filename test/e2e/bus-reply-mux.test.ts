import { errors } from '@nats-io/transport-node';
import t from 'tap';
import { isNoRespondersError } from '../../common/bus.js';
import { bytes, gatewayBusesOnTestNats, text } from '../helpers/gateway-buses.js';
import { waitFor } from '../helpers/wait.js';

// Bus.request shares one reply subscription per inbox scope (common/reply-mux.ts), against a
// real nats-server: each request gets its own answer, and the errors are nats.js's own.
const { open, dispose } = await gatewayBusesOnTestNats();
t.teardown(dispose);

t.test('concurrent requests in several scopes each get their own answer', async (t) => {
  const [asker, answerer] = [await open('asker'), await open('answerer')];
  t.teardown(async () => {
    await asker.close();
    await answerer.close();
  });
  const replies: string[] = [];
  answerer.subscribe('mux.echo', {
    callback: (_err, msg) => {
      replies.push(msg.reply!);
      // Answered out of order: the last request first.
      setTimeout(() => answerer.publish(msg.reply!, bytes(`echo ${text(msg.data)}`)), 50 - replies.length);
    },
  });
  await answerer.flush();
  const scopes = [undefined, 'memory', 'chat.testing'];
  const answers = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      asker.request('mux.echo', bytes(`q${i}`), { timeoutMs: 5000, inboxScope: scopes[i % 3] }),
    ),
  );
  t.same(
    answers.map((m) => text(m.data)),
    Array.from({ length: 30 }, (_, i) => `echo q${i}`),
  );
  t.ok(
    replies.every((r) => /^_INBOX\.gateway\.(memory\.|chat\.testing\.)?[\w-]{22}\.[\w-]{22}$/.test(r)),
    'scoped inboxes',
  );
  t.equal(new Set(replies).size, 30, 'a reply subject of its own per request');
});

t.test('no responders, a timeout and a closed connection reject as nats.js would', async (t) => {
  const asker = await open('asker-errors');
  const silent = await open('silent');
  t.teardown(() => silent.close());
  silent.subscribe('mux.silent', { callback: () => {} });
  await silent.flush();
  const nobody = await asker.request('mux.nobody', bytes('x'), { timeoutMs: 2000 }).catch((err: unknown) => err);
  t.ok(isNoRespondersError(nobody), 'no responders');
  const late = await asker.request('mux.silent', bytes('x'), { timeoutMs: 100 }).catch((err: unknown) => err);
  t.type(late, errors.TimeoutError);
  // A request to a reply subject whose request is over finds "no responders", as an
  // unsubscribed inbox did (a copy of a delivery receipt).
  let replySubject = '';
  asker.subscribe('mux.capture', { callback: (_err, msg) => (replySubject = msg.reply!) });
  const captured = asker.request('mux.capture', bytes('x'), { timeoutMs: 100 }).catch((err: unknown) => err);
  t.type(await captured, errors.TimeoutError);
  const copy = await silent.request(replySubject, bytes('copy'), { timeoutMs: 2000 }).catch((err: unknown) => err);
  t.ok(isNoRespondersError(copy), 'a copy sent to a finished request finds no responders');
  const pending = asker.request('mux.silent', bytes('x'), { timeoutMs: 5000 }).catch((err: unknown) => err);
  await asker.close();
  t.type(await pending, Error, 'a request waiting when the connection closes is rejected at once');
  const closed = await asker.request('mux.silent', bytes('x'), { timeoutMs: 100 }).catch((err: unknown) => err);
  t.type(closed, errors.ClosedConnectionError);
});

t.test('reply inboxes of one scope each get their own stream; a probe finds no responders once over', async (t) => {
  const [asker, worker] = [await open('inbox-asker'), await open('inbox-worker')];
  t.teardown(() => worker.close());
  const got: Record<string, string[]> = { a: [], b: [] };
  const a = asker.subscribeInbox('chat.testing', (_err, msg) => got.a!.push(text(msg.data)));
  const b = asker.subscribeInbox('chat.testing', (_err, msg) => got.b!.push(text(msg.data)));
  for (const inbox of [a, b]) t.match(inbox.getSubject(), /^_INBOX\.gateway\.chat\.testing\.[\w-]{22}\.[\w-]{22}$/);
  t.not(a.getSubject(), b.getSubject());
  await asker.flush();
  for (const i of [0, 1, 2]) {
    worker.publish(a.getSubject(), bytes(`a${i}`));
    worker.publish(b.getSubject(), bytes(`b${i}`));
  }
  // A heartbeat probe to a live inbox reaches it; nobody answers it, so the prober times out.
  const probe = await worker.request(a.getSubject(), bytes('probe'), { timeoutMs: 200 }).catch((err: unknown) => err);
  t.type(probe, errors.TimeoutError, 'a live inbox takes a probe');
  t.same(got, { a: ['a0', 'a1', 'a2', 'probe'], b: ['b0', 'b1', 'b2'] }, 'each frame to its own inbox, in order');
  a.unsubscribe();
  worker.publish(a.getSubject(), bytes('late'));
  const over = await worker.request(a.getSubject(), bytes('probe'), { timeoutMs: 2000 }).catch((err: unknown) => err);
  t.ok(isNoRespondersError(over), 'a probe after the end finds no responders');
  t.same(got.a, ['a0', 'a1', 'a2', 'probe'], 'nothing after the end');
  worker.publish(b.getSubject(), bytes('b3'));
  await worker.flush();
  await asker.flush();
  t.same(got.b, ['b0', 'b1', 'b2', 'b3'], 'the other inbox still gets its frames');
  await asker.close();
  // The server may take a moment to see the connection go; a worker probes again each heartbeat.
  let gone: unknown;
  for (let i = 0; i < 5 && !isNoRespondersError(gone); i++) {
    gone = await worker.request(b.getSubject(), bytes('probe'), { timeoutMs: 300 }).catch((err: unknown) => err);
  }
  t.ok(isNoRespondersError(gone), 'a probe after the requester closed finds no responders');
  t.throws(() => asker.subscribeInbox('chat.testing', () => {}), errors.ClosedConnectionError);
});

t.test('failInboxes ends every reply inbox with its error; requests keep waiting for their replies', async (t) => {
  const [asker, worker] = [await open('fail-asker'), await open('fail-worker')];
  t.teardown(async () => {
    await asker.close();
    await worker.close();
  });
  const failed: Array<Error | null> = [];
  const streams = ['chat.testing', 'chat.other'].map((scope) => asker.subscribeInbox(scope, (err) => failed.push(err)));
  let answer!: () => void;
  worker.subscribe('mux.later', { callback: (_err, msg) => (answer = () => worker.publish(msg.reply!, bytes('ok'))) });
  await worker.flush();
  const pending = asker.request('mux.later', bytes('x'), { timeoutMs: 5000, inboxScope: 'chat.testing' });
  await waitFor('the request to arrive', () => answer !== undefined);
  const stopped = new Error('stopping');
  asker.failInboxes(stopped);
  t.same(failed, [stopped, stopped], 'each stream, once');
  for (const stream of streams) stream.unsubscribe();
  answer();
  t.equal(text((await pending).data), 'ok', 'the request still got its reply');
});

t.test('after failInboxes, new inboxes and requests fail at once with its error; a receipt still goes', async (t) => {
  const [asker, worker] = [await open('sticky-asker'), await open('sticky-worker')];
  t.teardown(async () => {
    await asker.close();
    await worker.close();
  });
  worker.subscribe('mux.ack', { callback: (_err, msg) => worker.publish(msg.reply!, bytes('ack')) });
  await worker.flush();
  const stopped = new Error('stopping');
  asker.failInboxes(stopped);
  // Opened after the walk (a retry, a fan-out's combining step): nobody would fail them later.
  let thrown: unknown;
  try {
    asker.subscribeInbox('chat.testing', () => {});
  } catch (err) {
    thrown = err;
  }
  t.equal(thrown, stopped, 'an inbox');
  const asked = await asker.request('mux.ack', bytes('x'), { timeoutMs: 5000 }).catch((err: unknown) => err);
  t.equal(asked, stopped, 'a request');
  const receipt = { timeoutMs: 5000, inboxScope: 'chat.testing', outlivesStop: true };
  t.equal(text((await asker.request('mux.ack', bytes('receipt'), receipt)).data), 'ack', 'a receipt is still answered');
});
