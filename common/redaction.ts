import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { messageFromAjvErrors } from '../bus-schemas/index.js';
import { secretPatternsSchema, type SecretPatternsFile } from './secret-patterns.schema.js';

/** The secret patterns shipped with the repository. */
export const DEFAULT_SECRET_PATTERNS_FILE = fileURLToPath(new URL('../config/secrets.json', import.meta.url));

/** Finds and masks secrets in text, with the patterns of one file. */
export interface Redactor {
  /** Names of the patterns that match `text` (empty: no secret found). */
  detect(text: string): string[];
  /** `text` with every match replaced by `[REDACTED:<name>]`. */
  redact(text: string): string;
}

interface CompiledPattern {
  name: string;
  regex: RegExp;
}

const validatePatterns = new Ajv({ strict: true }).compile<SecretPatternsFile>(secretPatternsSchema);

/** A redactor over already-parsed patterns; a pattern that does not compile is named in the error. */
export function createRedactor(file: SecretPatternsFile, source = 'secret patterns'): Redactor {
  const patterns: CompiledPattern[] = file.patterns.map(({ name, regex, flags }) => {
    try {
      return { name, regex: new RegExp(regex, `g${flags ?? ''}`) };
    } catch (err) {
      throw new Error(`invalid ${source}: pattern "${name}" is not a valid regular expression: ${(err as Error).message}`);
    }
  });
  return {
    detect(text) {
      const found: string[] = [];
      for (const { name, regex } of patterns) {
        regex.lastIndex = 0;
        if (regex.test(text)) found.push(name);
      }
      return found;
    },
    redact(text) {
      let out = text;
      for (const { name, regex } of patterns) out = out.replace(regex, `[REDACTED:${name}]`);
      return out;
    },
  };
}

/**
 * Loads the secret patterns file (SECRET_PATTERNS_FILE). Throws an error naming the file and
 * the field at fault: a gateway that starts with broken patterns would leak what they miss.
 */
export function loadRedactor(file: string = DEFAULT_SECRET_PATTERNS_FILE): Redactor {
  const path = resolve(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read secret patterns ${path} (SECRET_PATTERNS_FILE): ${(err as Error).message}`);
  }
  if (!validatePatterns(parsed)) {
    const { message } = messageFromAjvErrors(validatePatterns.errors, 'patterns');
    throw new Error(`invalid secret patterns ${path} (SECRET_PATTERNS_FILE): ${message}`);
  }
  return createRedactor(parsed, `secret patterns ${path} (SECRET_PATTERNS_FILE)`);
}
