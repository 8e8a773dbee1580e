import t from 'tap';
import { workerSettingsToRepeat } from '../../scripts/lib/worker-settings-line.js';

// The add-workers line of `npm start`: a worker started with it must use the same backend and memory.

t.test('every worker setting given is repeated; NATS, DATA_DIR, secrets and others are not', async (t) => {
  const words = workerSettingsToRepeat({
    PROVIDER: 'llama-cpp',
    LLAMA_CPP_CONTEXT_SIZE: '2048',
    DATABASE_URL: 'postgres://agentbus:s3cret@db.internal:5432/memory',
    AGENTS_FILE: '/srv/my agents.json',
    OPENAI_API_KEY: 'sk-secret',
    NATS_URL: 'nats://127.0.0.1:4222',
    DATA_DIR: '/srv/data',
    PORT: '8080',
    DEFAULT_MODEL: '',
    SECRET_PATTERNS_FILE: '/srv/patterns.json',
    OLLAMA_URL: 'http://ollama:s3cret@models.internal:11434',
  });
  t.same(words.toSorted(), [
    "AGENTS_FILE='/srv/my agents.json'",
    'DATABASE_URL=postgres://agentbus:PASSWORD@db.internal:5432/memory',
    'LLAMA_CPP_CONTEXT_SIZE=2048',
    'OLLAMA_URL=http://ollama:PASSWORD@models.internal:11434/',
    'PROVIDER=llama-cpp',
    'SECRET_PATTERNS_FILE=/srv/patterns.json',
  ]);
  t.same(
    workerSettingsToRepeat({ DATABASE_URL: 'postgres:///memory?host=/run/postgresql' }),
    ["DATABASE_URL='postgres:///memory?host=/run/postgresql'"],
    'no password to leave out; quoted, as "?" is a shell pattern',
  );
  t.same(workerSettingsToRepeat({ DATABASE_URL: 'postgres://db.internal/memory?user=a&password=s3cret' }), [
    "DATABASE_URL='postgres://db.internal/memory?user=a&password=PASSWORD'",
  ]);
});
