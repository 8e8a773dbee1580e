import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Caller } from '../../gateway/auth/caller.js';
import { voiceAgent } from '../../gateway/audio/voice-agent.js';
import { embeddingAgent } from '../../gateway/embeddings/embedding-agent.js';
import { agentWith } from '../helpers/fake-provider.js';
import type { Catalog } from '../../common/catalog.js';

// An audio model name GET /v1/models lists (`whisper-1`) sent to another route is not "unknown".
const voice = {
  ...agentWith('voice'),
  speech: { aliases: ['tts-1'] },
  transcription: { aliases: ['whisper-1'] },
};
const agents = [voice, agentWith('chatty'), { ...agentWith('vec'), kind: 'embedding' as const }];
const catalog = {
  get: (name: string) => agents.find((a) => a.name === name),
  agents,
  names: agents.map((a) => a.name),
} as unknown as Catalog;
const everyone: Caller = { tenant: 'key_1', name: 'k', agents: null, tier: 'default', private: false };
const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentbusError) return { code: err.code, param: err.param, message: err.message };
    throw err;
  }
  return undefined;
};

t.test("another audio route's model name: 400 naming model, saying what it is", async (t) => {
  t.match(
    errorOf(() => voiceAgent(catalog, 'speech', 'whisper-1', undefined, everyone)),
    {
      code: 'invalid_request',
      param: 'model',
      message: /not a speech model: "whisper-1" is a transcription model \(POST \/v1\/audio\/transcriptions\)/,
    },
  );
  t.match(
    errorOf(() => voiceAgent(catalog, 'transcription', 'tts-1', undefined, everyone)),
    {
      code: 'invalid_request',
      message: /not a transcription model: "tts-1" is a speech model.*Transcription models: voice, whisper-1/,
    },
  );
  t.match(
    errorOf(() => embeddingAgent(catalog, 'tts-1', undefined, everyone)),
    {
      code: 'invalid_request',
      param: 'model',
      message: /not an embedding model: "tts-1" is a speech model .*Embedding models: vec/,
    },
  );
  t.equal(voiceAgent(catalog, 'speech', 'tts-1', undefined, everyone).name, 'voice', 'its own alias still works');
  t.match(
    errorOf(() => voiceAgent(catalog, 'speech', 'nope', undefined, everyone)),
    { code: 'model_not_found' },
  );
  t.match(
    errorOf(() => embeddingAgent(catalog, 'nope', undefined, everyone)),
    { code: 'model_not_found' },
  );
});

t.test("outside the key's scope it is the 403, as for the agent's own name", async (t) => {
  const scoped = { ...everyone, agents: ['chatty'] };
  t.match(
    errorOf(() => voiceAgent(catalog, 'speech', 'whisper-1', undefined, scoped)),
    {
      code: 'agent_not_allowed',
    },
  );
  t.match(
    errorOf(() => embeddingAgent(catalog, 'whisper-1', undefined, scoped)),
    { code: 'agent_not_allowed' },
  );
  // Named by what the key sent: the voice agent's own name stays unknown to it.
  const refusals = [
    errorOf(() => voiceAgent(catalog, 'speech', 'whisper-1', undefined, scoped)),
    errorOf(() => voiceAgent(catalog, 'speech', 'tts-1', undefined, scoped)),
    errorOf(() => embeddingAgent(catalog, 'whisper-1', undefined, scoped)),
  ];
  for (const refusal of refusals) {
    t.match(refusal, { message: /may not call the model "(whisper-1|tts-1)"\.$/ });
    t.notMatch(refusal!.message, /voice/);
  }
  t.match(
    errorOf(() => voiceAgent(catalog, 'speech', 'voice', undefined, scoped)),
    { message: /may not call the agent "voice"/ },
    'an agent the key named itself is named back',
  );
});

t.test('"auto", which GET /v1/models lists, on an embedding or audio route: 400 naming model', async (t) => {
  const router = /not (an embedding|a speech|a transcription) model: "auto" lets the router choose a chat agent/;
  const asked = [
    errorOf(() => embeddingAgent(catalog, 'auto', undefined, everyone)),
    errorOf(() => voiceAgent(catalog, 'speech', 'auto', undefined, everyone)),
    errorOf(() => voiceAgent(catalog, 'transcription', 'auto', undefined, everyone)),
  ];
  for (const error of asked) t.match(error, { code: 'invalid_request', param: 'model', message: router });
  t.match(asked[0], { message: /Embedding models: vec\.$/ }, 'and what to name instead');
  const embedOnly: Caller = { ...everyone, agents: ['vec'] };
  t.match(
    errorOf(() => embeddingAgent(catalog, 'auto', undefined, embedOnly)),
    { code: 'model_not_found' },
    'a key that may call no chat agent is not offered auto: unknown to it',
  );
});
