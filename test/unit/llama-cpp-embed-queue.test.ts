import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { createLlamaCppEmbedder } from '../../workers/providers/llama-cpp/embed.js';
import type { LlamaModel } from '../../workers/providers/llama-cpp/load-module.js';

// The in-process engine embeds one input at a time, requests queued behind each other. A request
// cancelled while it waits must end at once: it holds one of the worker's model slots meanwhile.

const turns = async (n = 10) => {
  for (let turn = 0; turn < n; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/** A model whose every input takes until the test calls `next()`; `started` lists the inputs begun. */
function slowModel() {
  const pending: Array<() => void> = [];
  const started: string[] = [];
  const model = {
    fileInfo: { metadata: {} },
    tokenize: (text: string) => text.split(' '),
    createEmbeddingContext: () =>
      Promise.resolve({
        getEmbeddingFor: (input: string) =>
          new Promise((resolve) => {
            started.push(input);
            pending.push(() => resolve({ vector: [1, 0] }));
          }),
      }),
  } as unknown as LlamaModel;
  const next = async () => {
    for (let turn = 0; turn < 10 && pending.length === 0; turn++) await turns(1);
    pending.shift()?.();
  };
  return { model, next, started };
}

t.test('a request cancelled while it waits behind a batch ends at once; the batch goes on', async (t) => {
  const { model, next } = slowModel();
  const embed = createLlamaCppEmbedder(() => Promise.resolve(model), {
    modelPath: 'unit.gguf',
    threads: 1,
    contextSize: 512,
  });
  const batch = embed({ model: 'm', input: ['one', 'two'], signal: new AbortController().signal });
  const waiting = new AbortController();
  const queued = embed({ model: 'm', input: ['three'], signal: waiting.signal });
  waiting.abort(new AgentbusError('request_cancelled', 'the requester left'));
  await t.rejects(queued, { code: 'request_cancelled' }, 'not after the batch: now');
  await next();
  await next();
  t.same((await batch).vectors, [
    [1, 0],
    [1, 0],
  ]);
  // The cancelled one never reached the engine: the next request is the next to run.
  const after = embed({ model: 'm', input: ['four'], signal: new AbortController().signal });
  await next();
  t.same((await after).vectors, [[1, 0]]);
});

t.test('a running batch cancelled mid-input ends at once, and the engine stays one at a time', async (t) => {
  const { model, next, started } = slowModel();
  const embed = createLlamaCppEmbedder(() => Promise.resolve(model), {
    modelPath: 'unit.gguf',
    threads: 1,
    contextSize: 512,
  });
  const running = new AbortController();
  const batch = embed({ model: 'm', input: ['one', 'two', 'three'], signal: running.signal });
  await next();
  await turns();
  t.same(started, ['one', 'two']);
  running.abort(new AgentbusError('request_cancelled', 'the requester left'));
  await t.rejects(batch, { code: 'request_cancelled' });
  const after = embed({ model: 'm', input: ['four'], signal: new AbortController().signal });
  await turns();
  t.same(started, ['one', 'two'], 'the input under way ends before the next request starts');
  await next();
  await turns();
  t.same(started, ['one', 'two', 'four'], 'and the cancelled batch stops there');
  await next();
  t.same((await after).vectors, [[1, 0]]);
});
