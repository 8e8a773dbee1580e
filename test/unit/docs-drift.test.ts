import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ERROR_CODES, ERROR_TABLE } from '../../bus-schemas/index.js';
import { recordingEnvReader } from '../../common/env-recorder.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { CONFIG_SOURCES, PROCESS_NAMES } from '../../scripts/lib/docs/config-sources.js';
import { collectConfigRows } from '../../scripts/lib/docs/configuration-doc.js';
import { GENERATED_PAGES } from '../../scripts/lib/docs/generated-pages.js';
import { NOT_SETTINGS, VARIABLES_OUTSIDE_READERS } from '../../scripts/lib/docs/outside-readers.js';

// The reference pages that come from code (fastify's errors-doc test is the model): regenerated
// in memory and compared with the committed files, and every variable and error code described.

t.test('the generated reference pages are up to date (run "npm run docs")', async (t) => {
  for (const [file, render] of Object.entries(GENERATED_PAGES)) {
    const committed = readFileSync(join(ROOT, file), 'utf8');
    t.ok(
      committed === render(),
      `${file} is what "npm run docs" writes from the code (if not: run it, commit ${file})`,
    );
  }
});

t.test('every error code has a doc text', async (t) => {
  const missing = ERROR_CODES.filter((code) => !/\S.{20,}/.test(ERROR_TABLE[code].doc));
  t.same(missing, [], 'each row of bus-schemas/errors.ts says when it happens and what to do');
});

t.test('every variable a process reads has one description', async (t) => {
  const problems: string[] = [];
  for (const process of PROCESS_NAMES) {
    const { read, variables } = recordingEnvReader();
    CONFIG_SOURCES[process](read);
    const byName = new Map<string, string>();
    for (const { name, doc } of variables) {
      if (!/^[^\n]{10,}$/.test(doc)) problems.push(`${process}: ${name} needs a one-line doc`);
      // One process reading one variable two ways would show two defaults: read it once.
      if (byName.has(name) && byName.get(name) !== doc) problems.push(`${process}: ${name} is read two ways`);
      byName.set(name, doc);
    }
  }
  t.same(problems, []);
});

/** Every .ts file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

t.test('every variable the code reads is in the reference', async (t) => {
  const documented = new Set(collectConfigRows().map((row) => row.name));
  const readerCall = /\.(?:string|optionalString|integer|url|oneOf|list|listOf)\(\s*'([A-Z][A-Z0-9_]+)'/g;
  const rawRead = /env\[\s*'([A-Z][A-Z0-9_]+)'\s*\]|process\.env\.([A-Z][A-Z0-9_]+)/g;
  const unseen: string[] = [];
  const undocumented: string[] = [];
  for (const file of ['bench', 'common', 'gateway', 'scripts', 'test', 'workers'].flatMap(sourceFiles)) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [, name] of text.matchAll(readerCall)) if (!documented.has(name!)) unseen.push(`${file}: ${name}`);
    for (const match of text.matchAll(rawRead)) {
      const name = match[1] ?? match[2]!;
      if (!documented.has(name) && !NOT_SETTINGS.includes(name)) undocumented.push(`${file}: ${name}`);
    }
  }
  t.same(unseen, [], 'read through an EnvReader that scripts/lib/docs/config-sources.ts does not run: add it there');
  t.same(undocumented, [], 'read from process.env directly: use an EnvReader, or list it in outside-readers.ts');
  const stale = VARIABLES_OUTSIDE_READERS.filter(
    ({ name, file }) => !readFileSync(join(ROOT, file), 'utf8').includes(name),
  );
  t.same(stale, [], 'each entry of outside-readers.ts is still read by the file it names');
});
