import OpenAI, { NotFoundError } from 'openai';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

// OpenAI's stored chat completions, driven by the official openai package: every chat turn
// agentbus stores can be retrieved, its messages listed, and deleted — which takes it out of its
// conversation's history, so a user can make memory forget an exchange.
const stack = await startStack();
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });

t.test('retrieve, list messages, delete: the deleted turn leaves the conversation', async (t) => {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await client.chat.completions.create({
    model: 'documentation',
    messages: [
      { role: 'developer', content: 'Answer in one word.' },
      { role: 'user', content: 'A question about France.' },
      { role: 'user', content: 'Capital of France?' },
    ],
    metadata: { topic: 'geography' },
  });
  const session = (first as unknown as { conversation_id: string }).conversation_id;

  const stored = await client.chat.completions.retrieve(first.id);
  t.match(stored, {
    id: first.id,
    object: 'chat.completion',
    created: first.created,
    model: 'documentation',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.' }, finish_reason: 'stop' }],
    usage: first.usage,
    metadata: { topic: 'geography' },
  });

  const messages = [];
  for await (const message of client.chat.completions.messages.list(first.id, { limit: 1 })) messages.push(message);
  t.same(
    messages.map((m) => [m.id, m.role, m.content]),
    [
      [`${first.id}-0`, 'user', 'A question about France.'],
      [`${first.id}-1`, 'user', 'Capital of France?'],
    ],
    'paged one by one, oldest first; system and developer messages are not kept (sent with every request)',
  );

  stack.ollama.behave({ tokens: ['Lyon', '.'] });
  const second = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': session },
    body: JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content: 'Second city?' }] }),
  });
  t.equal(second.status, 200);

  t.same(await client.chat.completions.delete(first.id), {
    id: first.id,
    object: 'chat.completion.deleted',
    deleted: true,
  });
  const gone = await client.chat.completions.retrieve(first.id).catch((err: unknown) => err);
  t.ok(gone instanceof NotFoundError, 'a deleted completion is 404');
  t.match((gone as NotFoundError).error, { code: 'completion_not_found', param: 'completion_id' });

  stack.ollama.behave({ tokens: ['Yes'] });
  const third = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, 'x-session-id': session },
    body: JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content: 'Sure?' }] }),
  });
  t.equal(third.status, 200, 'the conversation goes on');
  const prompt = stack.ollama.requests.at(-1)!.messages.map((m) => m.content);
  t.notOk(prompt.includes('Capital of France?'), 'the deleted exchange is no longer history');
  t.ok(prompt.includes('Second city?'), 'the rest of the conversation is');
});

t.test("a response's id and an unknown id answer alike, on the root and an agent's base URL", async (t) => {
  stack.ollama.behave({ tokens: ['Hi'] });
  const answer = await client.chat.completions.create({
    model: 'documentation',
    messages: [{ role: 'user', content: 'Hello' }],
  });
  const response = await client.responses.create({ model: 'documentation', input: 'Hello' });
  for (const id of [response.id, 'chatcmpl-unknown']) {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions/${id}`, { headers: AUTH });
    t.equal(res.status, 404, id);
    t.match(await res.json(), { error: { code: 'completion_not_found', message: new RegExp(id) } });
  }
  const perAgent = await fetch(`${stack.baseUrl}/agents/documentation/v1/chat/completions/${answer.id}`, {
    headers: AUTH,
  });
  t.equal(perAgent.status, 200, "on an agent's base URL too");
  const unknownParameter = await fetch(`${stack.baseUrl}/v1/chat/completions/${answer.id}?stream=true`, {
    headers: AUTH,
  });
  t.equal(unknownParameter.status, 400);
});

t.test('the list and the metadata update, not served, say so by name', async (t) => {
  const list = await client.chat.completions.list().catch((err: unknown) => err);
  t.ok(list instanceof NotFoundError);
  t.match((list as NotFoundError).error, {
    code: 'unknown_url',
    message: /Listing stored chat completions .* not served/,
  });
  const update = await client.chat.completions
    .update('chatcmpl-any', { metadata: { topic: 'x' } })
    .catch((err: unknown) => err);
  t.ok(update instanceof NotFoundError);
  t.match((update as NotFoundError).error, { code: 'unknown_url', message: /metadata .* is not served/ });
  const perAgent = await fetch(`${stack.baseUrl}/agents/documentation/v1/chat/completions`, { headers: AUTH });
  t.match(
    await perAgent.json(),
    { error: { code: 'unknown_url', message: /not served/ } },
    "on an agent's base URL too",
  );
  const badKey = await fetch(`${stack.baseUrl}/v1/chat/completions`, { headers: { authorization: 'Bearer nope' } });
  t.equal(badKey.status, 401, 'a bad key learns nothing of the routes');
});
