import { installLlamaCpp } from './lib/install-llama-cpp.js';

// `npm run llama-cpp:install`: the opt-in install of the llama-cpp provider's engine.
try {
  installLlamaCpp((line) => process.stdout.write(`[agentbus] ${line}\n`));
} catch (err) {
  process.stderr.write(`[agentbus] ${(err as Error).message}\n`);
  process.exit(1);
}
