import t from 'tap';
import type { ChatMessage, ChatRequest } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { cacheKeyOf, seenByModel } from '../../workers/chat/answer-key.js';

const agent = { name: 'testing', model: 'tiny' } as Agent;
const envelopeOf = (messages: ChatMessage[]) => ({ tenant: 'dev', messages }) as ChatRequest;
const keyOf = (messages: ChatMessage[], history: ChatMessage[] = []) =>
  cacheKeyOf(envelopeOf(messages), agent, {}, history);

t.test('how the client sent a message does not change the cache key; what the model sees does', async (t) => {
  const plain: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'abc' },
  ];
  const sentAs: ChatMessage[] = [
    { role: 'system', content: 'Be brief.', developer: true },
    { role: 'user', content: 'abc', part_lengths: [1, 2] },
  ];
  t.equal(keyOf(sentAs), keyOf(plain), 'developer and part_lengths are left out of the key');
  t.equal(keyOf(plain, sentAs), keyOf(plain, plain), 'and out of the history in it');
  t.not(keyOf([{ role: 'user', content: 'abd' }]), keyOf([{ role: 'user', content: 'abc' }]), 'the text counts');
  // [text "a\nb", image] and [text "a", image, text "b"]: the same string, not the same parts upstream.
  const image = { images: ['aW1n'], image_parts: [{ at: 1, media_type: 'image/png' }] };
  t.not(
    keyOf([{ role: 'user', content: 'a\nb', ...image }]),
    keyOf([{ role: 'user', content: 'a\nb', part_lengths: [1, 1], ...image }]),
    'beside images, the split counts',
  );
});

t.test('seenByModel copies only a message that carries how it was sent', async (t) => {
  const user: ChatMessage = { role: 'user', content: 'hi', name: 'ann' };
  t.equal(seenByModel(user), user, 'the same object when there is nothing to leave out');
  t.same(seenByModel({ role: 'assistant', content: 'ab', part_lengths: [1, 1], refusal_parts: [1] }), {
    role: 'assistant',
    content: 'ab',
  });
});

t.test('verbosity changes the cache key; the service tier does not', async (t) => {
  const messages: ChatMessage[] = [{ role: 'user', content: 'abc' }];
  const key = (extra: Partial<ChatRequest>) => cacheKeyOf({ ...envelopeOf(messages), ...extra }, agent, {}, []);
  t.not(key({ verbosity: 'low' }), key({ verbosity: 'high' }), 'a terse answer is not a full one');
  t.not(key({ verbosity: 'low' }), key({}));
  t.equal(key({ service_tier: 'flex' }), key({}), 'the same answer, made another way');
});
