import { ensureChromium } from './lib/chromium.js';
import { installLlamaCpp, llamaCppInstalled } from './lib/install-llama-cpp.js';
import { ensureNatsServer } from './lib/install-nats.js';
import { ensurePgbouncer } from './lib/pgbouncer.js';
import { ensurePostgres } from './lib/postgres-server.js';
import { ensureEspeakNg, ensureFfmpeg } from './lib/speech-tools.js';
import { SPEECH_DEFAULTS } from '../workers/speech/settings.js';
import { ensurePocketsphinx, ensurePocketsphinxTestdata } from './lib/transcription-tools.js';
import { TRANSCRIPTION_DEFAULTS } from '../workers/transcription/settings.js';

// `npm test` runs this first. The tests start their own nats-server processes, and the
// playground's browser test drives headless Chromium: both come from Debian's packages,
// installed here when missing and possible (root). nats-server is needed by every test, so its
// absence stops the run; without Chromium only the browser test fails, saying what to install.
// The llama-cpp provider's test runs the real tiny model: its engine, node-llama-cpp, is the
// opt-in install (`npm run llama-cpp:install`), done here when missing. The memory-on-PostgreSQL
// tests start a PostgreSQL of their own from Debian's `postgresql` (never a server the machine
// runs): installed here too; without it only they fail.
const say = (line: string) => process.stdout.write(`[agentbus] ${line}\n`);
try {
  ensureNatsServer(say);
} catch (err) {
  process.stderr.write(`[agentbus] ${(err as Error).message}\n`);
  process.exit(1);
}
try {
  ensureChromium(say);
} catch (err) {
  process.stderr.write(`[agentbus] warning: ${(err as Error).message}\n`);
}
// pgbouncer: the test of memory behind a connection pooler in transaction mode.
for (const ensure of [ensurePostgres, ensurePgbouncer]) {
  try {
    ensure(say);
  } catch (err) {
    process.stderr.write(`[agentbus] warning: ${(err as Error).message}\n`);
  }
}
// The speech test runs the real espeak-ng; ffmpeg encodes the other formats. Without them only
// the speech tests fail, saying what to install.
for (const ensure of [ensureEspeakNg, ensureFfmpeg]) {
  try {
    ensure(SPEECH_DEFAULTS, say);
  } catch (err) {
    process.stderr.write(`[agentbus] warning: ${(err as Error).message}\n`);
  }
}
// The transcription tests run the real pocketsphinx on Debian's own recordings of human speech.
for (const ensure of [() => ensurePocketsphinx(TRANSCRIPTION_DEFAULTS, say), () => ensurePocketsphinxTestdata(say)]) {
  try {
    ensure();
  } catch (err) {
    process.stderr.write(`[agentbus] warning: ${(err as Error).message}\n`);
  }
}
if (!llamaCppInstalled()) {
  try {
    installLlamaCpp(say);
  } catch (err) {
    process.stderr.write(`[agentbus] warning: ${(err as Error).message}\n`);
  }
}
