import t from 'tap';
import { AgentbusError, SPEECH_VOICES } from '../../bus-schemas/index.js';
import { audioOutputOf } from '../../gateway/openai/chat-audio-request.js';
import type { ChatBody } from '../../gateway/openai/chat-completion-request.schema.js';
import { asksForSpeech } from '../../gateway/speech/asks-for-speech.js';
import { inChatTerms } from '../../gateway/speech/speak-answer.js';
import { OPENAI_VOICES } from '../../workers/speech/voice.js';

const body = (extra: Partial<ChatBody>): ChatBody => ({
  model: 'testing',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});
const paramOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof AgentbusError ? [err.code, err.param] : ['thrown', String(err)];
  }
  return undefined;
};

t.test('audio output: OpenAI names mapped; half a request refused naming the key', async (t) => {
  t.same(audioOutputOf(body({})), { kind: 'unset' });
  t.same(audioOutputOf(body({ modalities: ['text'] })), { kind: 'text' });
  t.same(audioOutputOf(body({ modalities: ['text', 'audio'], audio: { voice: 'nova', format: 'pcm16' } })), {
    kind: 'audio',
    audio: { voice: 'nova', format: 'pcm' },
  });
  t.same(
    paramOf(() => audioOutputOf(body({ modalities: ['text', 'audio'] }))),
    ['invalid_request', 'audio'],
  );
  t.same(
    paramOf(() => audioOutputOf(body({ audio: { voice: 'nova', format: 'wav' } }))),
    ['invalid_request', 'modalities'],
  );
  t.same(
    paramOf(() => audioOutputOf(body({ modalities: ['audio'], audio: { voice: 'nova', format: 'wav' } }))),
    ['invalid_request', 'modalities'],
  );
  t.same(audioOutputOf(body({ modalities: ['text', 'audio'], audio: { voice: 'nova', format: 'aac' } })), {
    kind: 'audio',
    audio: { voice: 'nova', format: 'aac' },
  });
});

t.test('the voices the gateway accepts are the ones the espeak-ng worker maps', async (t) => {
  t.same([...SPEECH_VOICES].sort(), Object.keys(OPENAI_VOICES).sort());
});

t.test('asking for speech in words, in English and Bengali', async (t) => {
  for (const text of [
    'Convert to speech: Hello world',
    'Text-to-speech please: good morning',
    'Read aloud: the quick brown fox',
    'বাংলায় টেক্সট-টু-স্পিচ তৈরি করো',
  ])
    t.ok(asksForSpeech(text), text);
  for (const text of ['Clean up this transcript', 'Rewrite this in the passive voice', 'speech-to-text of a file'])
    t.notOk(asksForSpeech(text), text);
});

t.test("a worker's speech refusal names the chat request's key", async (t) => {
  const format = inChatTerms(
    new AgentbusError('audio_format_unavailable', 'needs ffmpeg', { param: 'response_format' }),
  );
  t.match(format, { code: 'audio_format_unavailable', param: 'audio.format', message: 'needs ffmpeg' });
  t.match(inChatTerms(new AgentbusError('invalid_request', 'Unknown voice', { param: 'voice' })), {
    param: 'audio.voice',
  });
  const other = new AgentbusError('no_worker', 'none');
  t.equal(inChatTerms(other), other);
});
