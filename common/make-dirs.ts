import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

// `mkdir -p`, one directory at a time. Node 20's own `{ recursive: true }` loops for ever, at full
// CPU, where mkdir(2) answers ENOENT under a directory that exists (anything below /proc): a
// DATA_DIR or KEYS_FILE there must fail with that error instead.

/**
 * The directories of `dir` that do not exist yet, outermost first. Something else already at
 * `dir` (a file) is EEXIST, as mkdir(2) says; one on the way there fails its mkdir with ENOTDIR.
 */
function missingDirs(dir: string): string[] {
  const target = resolve(dir);
  if (existsSync(target) && !statSync(target).isDirectory())
    throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${target}'`), {
      code: 'EEXIST',
      syscall: 'mkdir',
      path: target,
    });
  const missing: string[] = [];
  for (let at = target; !existsSync(at); at = dirname(at)) {
    missing.unshift(at);
    if (dirname(at) === at) break;
  }
  return missing;
}

const alreadyThere = (err: unknown) => (err as NodeJS.ErrnoException).code === 'EEXIST';

/** Creates `dir` and its missing parents (each with `mode`, which the umask narrows); an existing one stays. */
export function makeDirs(dir: string, mode?: number): void {
  for (const missing of missingDirs(dir)) {
    try {
      mkdirSync(missing, { mode });
    } catch (err) {
      // Another process made it meanwhile: as good as ours.
      if (!alreadyThere(err)) throw err;
    }
  }
}

/** {@link makeDirs} without blocking the event loop on the creations. */
export async function makeDirsAsync(dir: string, mode?: number): Promise<void> {
  for (const missing of missingDirs(dir))
    await mkdir(missing, { mode }).catch((err: unknown) => {
      if (!alreadyThere(err)) throw err;
    });
}
