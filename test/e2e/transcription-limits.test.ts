import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import t from 'tap';
import { findBinary } from '../../workers/speech/find-binary.js';
import { TRANSCRIPTION_DEFAULTS } from '../../workers/transcription/settings.js';
import { TESTDATA_DIR, wavOf } from '../helpers/pocketsphinx-testdata.js';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// How much audio a worker hears, end to end (gateway → NATS → worker → ffmpeg and pocketsphinx):
// crafted WAV headers refused before any engine runs, longer audio cut at MAX_TRANSCRIPTION_SECONDS
// (3 s here), the engine and its temporary file gone at the deadline, and a client that leaves
// mid-upload logged as a cancel, not as an internal error.
const missing = [
  [TRANSCRIPTION_DEFAULTS.pocketsphinxPath, findBinary(TRANSCRIPTION_DEFAULTS.pocketsphinxPath)],
  ['ffmpeg', findBinary('ffmpeg')],
  [TRANSCRIPTION_DEFAULTS.modelDir, existsSync(TRANSCRIPTION_DEFAULTS.modelDir) || undefined],
  [TESTDATA_DIR, existsSync(TESTDATA_DIR) || undefined],
]
  .filter(([, found]) => found === undefined)
  .map(([name]) => name);
if (missing.length > 0) t.plan(0, `not installed: ${missing.join(', ')} (npm test's pretest installs them as root)`);
else await run();

async function run() {
  const stack = await startStack({
    workerAgents: ['voice_processor'],
    env: { API_KEYS: 'limits-key', MAX_TRANSCRIPTION_SECONDS: '3' },
  });
  t.teardown(() => stack.close());
  const pcm = readFileSync(join(TESTDATA_DIR, 'goforward.raw'));
  // "go forward ten meters" three times: 8.7 s, past the 3 s cap.
  const longPcm = Buffer.concat([pcm, pcm, pcm]);

  const transcribe = (file: Buffer, name: string, headers: Record<string, string> = {}) => {
    const body = new FormData();
    body.append('file', new Blob([new Uint8Array(file)]), name);
    body.append('model', 'whisper-1');
    body.append('response_format', 'verbose_json');
    return fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: 'Bearer limits-key', ...headers },
      body,
    });
  };
  const engines = () =>
    spawnSync('pgrep', ['-P', String(process.pid), 'pocketsphinx|ffmpeg'])
      .stdout.toString()
      .trim();
  // The file pocketsphinx is reading, from its command line: where the worker's temporary directory is.
  const heardFile = () =>
    /-infile (\S+)/.exec(spawnSync('pgrep', ['-a', '-P', String(process.pid), 'pocketsphinx']).stdout.toString())?.[1];

  t.test("a WAV header's absurd rate or length: a 400 at once, no engine run", async (t) => {
    // The tester's files: 200 KB said to be 100 Hz (1000 s), and 2 KB said to be 1 Hz (2000 s).
    const hundredHz = wavOf(Buffer.alloc(200_000, 1), 100);
    const oneHz = wavOf(Buffer.alloc(2_000, 1), 1);
    // A true 16 kHz WAV of 8.7 s, longer than the cap by its own header.
    const tooLong = wavOf(longPcm);
    const cases: Array<[string, Buffer, Record<string, unknown>]> = [
      ['100 Hz', hundredHz, { code: 'audio_file_invalid', param: 'file', message: /100 Hz/ }],
      ['1 Hz', oneHz, { code: 'audio_file_invalid', param: 'file', message: /1 Hz/ }],
      ['8.7 s', tooLong, { code: 'audio_too_long', param: 'file', message: /^audio duration 8\.\d+ seconds .* 3 sec/ }],
    ];
    for (const [name, file, error] of cases) {
      const started = Date.now();
      const res = await transcribe(file, 'crafted.wav');
      const ms = Date.now() - started;
      t.equal(res.status, 400, name);
      t.match(((await res.json()) as { error: unknown }).error, error, name);
      t.ok(ms < 5_000, `${name}: answered in ${ms} ms`);
    }
    t.equal(engines(), '', 'no engine process');
  });

  t.test('a longer file in a format without a trusted length is heard up to the cap', async (t) => {
    const toFlac = '-hide_banner -loglevel error -f s16le -ar 16000 -ac 1 -i pipe:0 -f flac -';
    const flac = execFileSync('ffmpeg', toFlac.split(' '), { input: longPcm });
    const res = await transcribe(flac, 'long.flac');
    t.equal(res.status, 200);
    const body = (await res.json()) as { duration: number; text: string; usage: { seconds: number } };
    t.equal(body.duration, 3, 'the cap, not the 8.7 s sent');
    t.equal(body.usage.seconds, 3);
    t.match(body.text, /^go forward ten meters/, 'what came before the cut was heard');
    t.ok(
      stack.logs.lines.some(
        (l) => l['msg'] === 'heard the audio up to MAX_TRANSCRIPTION_SECONDS only; the rest was cut',
      ),
      'the worker says it cut',
    );
  });

  t.test('at the deadline the engine is killed and its temporary file removed', async (t) => {
    // Stopped as soon as it starts, pocketsphinx is still running at the 800 ms deadline on any
    // machine (a fast one heard this 2.9 s clip in less); the worker's SIGKILL ends a stopped process too.
    const pending = transcribe(wavOf(pcm), 'slow.wav', { 'x-request-timeout-ms': '800' });
    let file: string | undefined;
    await waitFor('pocketsphinx to start', () => (file = heardFile()) !== undefined, 5_000);
    const engine = spawnSync('pgrep', ['-P', String(process.pid), 'pocketsphinx'])
      .stdout.toString()
      .trim();
    if (engine !== '') process.kill(Number(engine.split('\n')[0]), 'SIGSTOP');
    t.ok(existsSync(file!), `it reads ${file}`);
    const res = await pending;
    t.equal(res.status, 504);
    t.match(((await res.json()) as { error: unknown }).error, { code: 'deadline_exceeded' });
    await waitFor('the engines to be gone', () => engines() === '');
    await waitFor('its temporary directory to be removed', () => !existsSync(dirname(file!)));
  });

  t.test('a client that leaves mid-upload is a cancel, not an internal error', async (t) => {
    const from = stack.logs.lines.length;
    const host = new URL(stack.baseUrl);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(host.port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: ${host.host}\r\nAuthorization: Bearer limits-key\r\n` +
            'Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: 1000000\r\n\r\n' +
            '--cut\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' +
            wavOf(pcm).subarray(0, 20_000).toString('latin1'),
        );
        // A fiftieth of it sent, then gone.
        setTimeout(() => socket.destroy(), 200);
      });
      socket.on('close', () => resolve());
    });
    await waitFor('the gateway to log the cancel', () =>
      stack.logs.lines.slice(from).some((l) => l['code'] === 'request_cancelled'),
    );
    const mine = stack.logs.lines.slice(from);
    t.match(
      mine.find((l) => l['code'] === 'request_cancelled'),
      { level: 30, msg: /closed the connection before its request body arrived whole/ },
    );
    t.same(
      mine.filter((l) => (l['level'] as number) >= 50),
      [],
      'nothing at error level',
    );
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    t.match(metrics, /agentbus_errors_total\{code="request_cancelled"\} 1/);
    t.notMatch(metrics, /agentbus_errors_total\{code="internal_error"\}/);
  });
}
