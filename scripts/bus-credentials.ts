import { runBusCredentialsCommand } from './lib/bus-credentials-command.js';

// npm run bus:credentials -- worker --agents a,b: the command lives in
// scripts/lib/bus-credentials-command.ts, so tests run it in-process; this file is only its process.
process.exitCode = runBusCredentialsCommand(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
