import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { olderWorkerFormat } from '../../gateway/speech/older-worker-format.js';

t.test("an older worker's schema refusal of the format is the client's response_format unavailable", async (t) => {
  // What a worker without aac in its SPEECH_FORMATS sends back (workers/audio/answer-with-frames.ts).
  const refusal = new AgentbusError(
    'invalid_envelope',
    'invalid speech request: format must be one of: wav, mp3, opus, flac, pcm',
    { param: 'format' },
  );
  t.match(olderWorkerFormat(refusal, 'aac'), {
    code: 'audio_format_unavailable',
    status: 400,
    param: 'response_format',
    message: /"aac" is not known to the worker .*older version.*upgrade the workers/,
  });
});

t.test('any other error goes on as it is', async (t) => {
  const other = new AgentbusError('invalid_envelope', 'speech request for "x" arrived on the subject of "y"', {
    param: 'intent',
  });
  t.equal(olderWorkerFormat(other, 'aac'), other);
  const busy = new AgentbusError('overloaded');
  t.equal(olderWorkerFormat(busy, 'mp3'), busy);
  const plain = new Error('boom');
  t.equal(olderWorkerFormat(plain, 'wav'), plain);
});
