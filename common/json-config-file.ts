import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { messageFromAjvErrors } from '../bus-schemas/index.js';

/**
 * Reads a JSON configuration file the user may edit (agent catalog, routing table, secret
 * patterns) and validates it. Errors name what the file is, its path, the variable that points
 * at it and the field at fault: a process started with a broken file would fail later and less
 * clearly, or — for secret patterns and routing — quietly do the wrong thing.
 */
export function readJsonConfig<T>(
  file: string,
  what: { name: string; envVar: string; subject: string },
  validate: ValidateFunction<T>,
): { path: string; source: string; value: T } {
  const path = resolve(file);
  const source = `${what.name} ${path} (${what.envVar})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read ${source}: ${(err as Error).message}`, { cause: err });
  }
  if (!validate(parsed)) {
    const { message } = messageFromAjvErrors(validate.errors, what.subject);
    throw new Error(`invalid ${source}: ${message}`);
  }
  return { path, source, value: parsed };
}
