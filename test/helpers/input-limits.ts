import type { InputLimits } from '../../gateway/openai/input-limits.js';

/** Input limits small enough for unit tests to reach each one with a few short messages. */
export const SMALL_INPUT_LIMITS: InputLimits = {
  maxMessages: 6,
  maxMessageChars: 50,
  maxInputChars: 10_000,
  maxJsonDepth: 32,
  maxTools: 2,
  maxToolSchemaBytes: 1000,
};
