import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';

// The guide and the reference link to each other: every relative link must reach a file, and
// every #anchor a heading of it, so moving a section cannot leave a dead link behind.

/** README.md and every page under docs/. */
function pages(dir = 'docs'): string[] {
  const found = readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return pages(path);
    return path.endsWith('.md') ? [path] : [];
  });
  return dir === 'docs' ? ['README.md', 'BENCHMARKS.md', ...found] : found;
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
const slug = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const anchorsOf = (file: string): Set<string> =>
  new Set(
    [
      ...readFileSync(join(ROOT, file), 'utf8')
        .replace(/```[\s\S]*?```/g, '')
        .matchAll(/^#{1,6} (.+)$/gm),
    ].map((m) => slug(m[1]!)),
  );

t.test('every relative link of the docs reaches a file and a heading', async (t) => {
  const dead: string[] = [];
  for (const page of pages()) {
    const text = readFileSync(join(ROOT, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const file = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path));
      if (!existsSync(join(ROOT, file))) dead.push(`${page}: ${target} (no file ${file})`);
      else if (anchor && file.endsWith('.md') && !anchorsOf(file).has(anchor))
        dead.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
    }
  }
  t.same(dead, []);
});

t.test('every dependency is explained in docs/internals/dependencies.md', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  const page = readFileSync(join(ROOT, 'docs/internals/dependencies.md'), 'utf8');
  const names = Object.keys({ ...pkg['dependencies'], ...pkg['devDependencies'] });
  const missing = names.filter((name) => !page.includes(name.startsWith('@types/') ? '@types/*' : `\`${name}\``));
  t.same(missing, [], 'each package has a row saying why it is there');
});

t.test('every repository path the docs name in backticks exists', async (t) => {
  const missing: string[] = [];
  const top = /^(bus-schemas|common|gateway|workers|scripts|bench|test|config|docs)\//;
  // BENCHMARKS.md is a record: its rows name the code of the commit they measured.
  for (const page of pages().filter((name) => name !== 'BENCHMARKS.md')) {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const [, path] of text.matchAll(/`([\w./-]+\.(?:ts|json|md|conf))`/g)) {
      if (!top.test(path!) || path!.includes('<')) continue;
      if (!existsSync(join(ROOT, path!))) missing.push(`${page}: ${path}`);
    }
  }
  t.same(missing, [], 'a moved file leaves no stale path in the docs');
});
