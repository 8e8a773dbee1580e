import t from 'tap';
import { AgentbusError, decodeVector, encodeVector } from '../../bus-schemas/index.js';
import type { Caller } from '../../gateway/auth/caller.js';
import { embeddingAgent } from '../../gateway/embeddings/embedding-agent.js';
import { withDimensions } from '../../workers/embeddings/dimensions.js';
import { agentWith } from '../helpers/fake-provider.js';
import type { Catalog } from '../../common/catalog.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentbusError) return [err.code, err.param];
    throw err;
  }
  return undefined;
};

t.test('vectors travel as little-endian float32 base64, exactly as OpenAI encodes them', async (t) => {
  const vector = [0.5, -0.25, 1, 0];
  const encoded = encodeVector(vector);
  t.equal(encoded, Buffer.from(new Float32Array(vector).buffer).toString('base64'));
  t.same(decodeVector(encoded), vector);
});

t.test('dimensions: truncate and renormalize for a Matryoshka agent only', async (t) => {
  const matryoshka = { ...agentWith('m'), kind: 'embedding' as const, matryoshka: true };
  const made = (vectors: number[][]) => ({ vectors, model: 'served.gguf' });
  const cut = withDimensions(matryoshka, made([[3, 4, 12]]), 2);
  t.same(cut, [[0.6, 0.8]]);
  t.same(withDimensions(matryoshka, made([[1, 2]]), undefined), [[1, 2]], 'absent: untouched');
  t.throws(
    () => withDimensions(matryoshka, made([[1, 2]]), 3),
    { code: 'invalid_request', param: 'dimensions', message: /the model "served.gguf" makes vectors of 2/ },
    'more than made: names the model that answered',
  );
  const plain = { ...agentWith('p'), kind: 'embedding' as const };
  t.same(
    codeOf(() => withDimensions(plain, made([[1, 2]]), 1)),
    ['invalid_request', 'dimensions'],
  );
});

t.test('the named agent must exist, be in scope and make embeddings', async (t) => {
  const agents = [agentWith('chatty'), { ...agentWith('vec'), kind: 'embedding' as const }];
  const catalog = { get: (name: string) => agents.find((a) => a.name === name), agents } as unknown as Catalog;
  const everyone: Caller = { tenant: 'key_1', name: 'k', agents: null, tier: 'default', private: false };
  t.equal(embeddingAgent(catalog, 'vec', undefined, everyone).name, 'vec');
  t.same(
    codeOf(() => embeddingAgent(catalog, 'chatty', undefined, everyone)),
    ['invalid_request', 'model'],
  );
  t.same(
    codeOf(() => embeddingAgent(catalog, 'nope', undefined, everyone)),
    ['model_not_found', 'model'],
  );
  const scoped = { ...everyone, agents: ['chatty'] };
  t.same(
    codeOf(() => embeddingAgent(catalog, 'vec', undefined, scoped)),
    ['agent_not_allowed', 'model'],
  );
  t.equal(embeddingAgent(catalog, undefined, agents[1], everyone).name, 'vec', 'the path names it');
});
