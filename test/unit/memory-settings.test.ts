import t from 'tap';
import { readEnv } from '../../common/env.js';
import { readMemorySettings } from '../../workers/memory/settings.js';

const read = (env: NodeJS.ProcessEnv) => {
  const reader = readEnv(env);
  const settings = readMemorySettings(reader, '/data');
  reader.done();
  return settings;
};
const URL = 'postgres://agentbus:secret@db:5432/agentbus';

t.test('DATABASE_URL unset: SQLite under DATA_DIR', async (t) => {
  t.match(read({}), { dialect: 'sqlite', dataDir: '/data', file: '/data/agentbus.sqlite' });
});

t.test('PostgreSQL: pool of 10 and prepared statements unless told otherwise; the password never shown', async (t) => {
  t.match(read({ DATABASE_URL: URL }), {
    dialect: 'postgres',
    shownUrl: 'postgres://agentbus:***@db:5432/agentbus',
    poolSize: 10,
    preparedStatements: true,
  });
  t.match(read({ DATABASE_URL: URL, DATABASE_POOL_SIZE: '3', DATABASE_PREPARED_STATEMENTS: 'off' }), {
    poolSize: 3,
    preparedStatements: false,
  });
  t.throws(() => read({ DATABASE_URL: URL, DATABASE_PREPARED_STATEMENTS: 'no' }), {
    name: 'ConfigError',
    message: /DATABASE_PREPARED_STATEMENTS.*on.*off/,
  });
  t.throws(() => read({ DATABASE_URL: 'mysql://agentbus:secret@db/agentbus' }), {
    message: /DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/ \(value not shown\)/,
  });
});
