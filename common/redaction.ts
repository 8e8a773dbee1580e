import { readJsonConfig } from './json-config-file.js';
import { secretPatternsSchema, type SecretPatternsFile } from './secret-patterns.schema.js';
import { packagePath } from './package-root.js';
import { ownSchemaAjv } from '../bus-schemas/index.js';

/** The secret patterns shipped with the repository. */
export const DEFAULT_SECRET_PATTERNS_FILE = packagePath('config', 'secrets.json');

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

const validatePatterns = ownSchemaAjv({ strict: true }).compile<SecretPatternsFile>(secretPatternsSchema);

/** A redactor over already-parsed patterns; a pattern that does not compile is named in the error. */
export function createRedactor(file: SecretPatternsFile, source = 'secret patterns'): Redactor {
  const patterns: CompiledPattern[] = file.patterns.map(({ name, regex, flags }) => {
    try {
      return { name, regex: new RegExp(regex, `g${flags ?? ''}`) };
    } catch (err) {
      throw new Error(
        `invalid ${source}: pattern "${name}" is not a valid regular expression: ${(err as Error).message}`,
        { cause: err },
      );
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
 * Loads the secret patterns file (SECRET_PATTERNS_FILE); a broken file stops the process,
 * since patterns that do not load would leak what they miss.
 */
export function loadRedactor(file: string = DEFAULT_SECRET_PATTERNS_FILE): Redactor {
  const { value, source } = readJsonConfig(
    file,
    { name: 'secret patterns', envVar: 'SECRET_PATTERNS_FILE', subject: 'patterns' },
    validatePatterns,
  );
  return createRedactor(value, source);
}
