import { runKeysCommand } from './lib/keys-command.js';

// npm run keys -- create|list|revoke: the command lives in scripts/lib/keys-command.ts, so tests
// run it in-process; this file is only its process.
process.exitCode = runKeysCommand(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
