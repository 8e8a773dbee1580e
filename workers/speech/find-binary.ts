import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** The executable a command name or path stands for (searched on PATH), or undefined. */
export function findBinary(command: string, path: string = process.env['PATH'] ?? ''): string | undefined {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : path.split(delimiter).filter(Boolean);
  for (const candidate of candidates) {
    const file = candidate === command ? command : join(candidate, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here: the next one
    }
  }
  return undefined;
}
