import t from 'tap';
import { startStack } from '../helpers/stack.js';

// Forms whose only part busboy skips (no `Content-Disposition: form-data`) hung their request
// for good when more than 16 KiB of that part came with the form's end (multipart-form.ts). The
// bodies are the tester's, sent over a real socket as curl sent them. No worker: each is refused
// before anything is published. Each request is bounded far below the file's timeout, so a hang
// fails its own assertion instead of holding the run.
const stack = await startStack({ workerAgents: false });
t.teardown(() => stack.close());

const BOUNDARY = 'XyZbOuNdArY';
const formOf = (partHead: string, size: number, before = '') =>
  Buffer.concat([
    Buffer.from(`${before}--${BOUNDARY}\r\n${partHead}\r\n`),
    Buffer.alloc(size, 'a'),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
const post = (body: Buffer) =>
  fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: 'Bearer local-only', 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: new Uint8Array(body),
    signal: AbortSignal.timeout(15_000),
  });

const SIZES = [1_000, 17_000, 65_000, 100_000];

t.test('a part without a form-data disposition is a 400 naming the missing file, at any size', async (t) => {
  const heads: Array<[string, string]> = [
    ['no Content-Disposition', 'Content-Type: text/plain\r\n'],
    ['Content-Disposition: attachment', 'Content-Disposition: attachment\r\nContent-Type: text/plain\r\n'],
  ];
  for (const [name, head] of heads)
    for (const size of SIZES) {
      const res = await post(formOf(head, size));
      t.equal(res.status, 400, `${name}, ${size} bytes`);
      t.match(
        await res.json(),
        { error: { type: 'invalid_request_error', param: 'file', message: /file/ } },
        `${name}, ${size} bytes: the OpenAI error shape`,
      );
    }
});

t.test('the same part as a form field is read, and refused as no file upload', async (t) => {
  const model = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n`;
  const head = 'Content-Disposition: form-data; name="file"\r\nContent-Type: text/plain\r\n';
  for (const size of SIZES) {
    const res = await post(formOf(head, size, model));
    t.equal(res.status, 400, `${size} bytes`);
    t.match(await res.json(), { error: { code: 'audio_file_invalid', param: 'file' } }, `${size} bytes`);
  }
});
