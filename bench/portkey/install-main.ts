import { installPortkey } from './install.js';

// `npm run bench:install-portkey`: the opt-in install of the peer gateway for the benchmark.
try {
  installPortkey((line) => process.stdout.write(`[bench] ${line}\n`));
} catch (err) {
  process.stderr.write(`[bench] ${(err as Error).message}\n`);
  process.exit(1);
}
