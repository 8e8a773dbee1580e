import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lib/child-process.js';
import { GENERATED_PAGES } from './lib/docs/generated-pages.js';

// `npm run docs`: writes the reference pages that come from code (docs/configuration.md from the
// env readers, docs/errors.md from the error table). `--check` writes nothing and exits 1 when
// a committed page differs, as test/unit/docs-drift.test.ts does.

const readOrNothing = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const check = process.argv.includes('--check');
let stale = 0;
for (const [file, render] of Object.entries(GENERATED_PAGES)) {
  const path = join(ROOT, file);
  const text = render();
  if (readOrNothing(path) === text) continue;
  if (check) {
    stale++;
    process.stderr.write(`${file} is out of date: run "npm run docs"\n`);
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${file}\n`);
  }
}
process.exit(stale > 0 ? 1 : 0);
