import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { llamaCppInstalled } from '../../scripts/lib/install-llama-cpp.js';
import { HOW_TO_INSTALL_LLAMA_CPP } from '../../workers/providers/llama-cpp/load-module.js';

/**
 * The GGUF model the llama-cpp tests run through the whole stack: AGENTBUS_TEST_GGUF, else the
 * tiny model of ../shared/models. A test file that imports it fails at once, saying what is missing,
 * when the file or node-llama-cpp is.
 */
export const TEST_GGUF =
  process.env['AGENTBUS_TEST_GGUF'] ??
  fileURLToPath(new URL('../../../shared/models/stories260K.gguf', import.meta.url));
if (!existsSync(TEST_GGUF))
  throw new Error(`the test model is missing: no ${TEST_GGUF} (set AGENTBUS_TEST_GGUF to a GGUF file)`);
if (!llamaCppInstalled()) throw new Error(`node-llama-cpp is not installed. ${HOW_TO_INSTALL_LLAMA_CPP}`);
