import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// Files that ship beside the code (config/, gateway/playground/, .llama-cpp, package.json) are
// read from the package root, never relative to the module reading them: the same module runs
// from its source (`common/x.ts`, tests under tsx) and compiled (`dist/common/x.js`), one folder
// deeper. The root is the first folder up from here with a package.json (dist/ has none).
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The package's root folder (where package.json is), whether running from sources or dist/. */
export const PACKAGE_ROOT = findRoot(HERE);

/** Where `npm run build` writes the compiled JavaScript. */
export const DIST_DIR = join(PACKAGE_ROOT, 'dist');

/** True when this code runs compiled from dist/ (production), false from the TypeScript sources. */
export const COMPILED = HERE.startsWith(DIST_DIR + sep);

/** A path inside the package root: `packagePath('config', 'agents.json')`. */
export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
