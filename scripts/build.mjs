// `npm run build` (and npm's `prepare`, so `npm ci` builds): compiles the TypeScript sources to
// plain JavaScript in dist/, which production runs with no TypeScript loader at start.
//
// Plain JavaScript itself: it must run before anything is compiled. esbuild transpiles each file
// on its own (no bundle: one .js per .ts, the same folders, imports untouched) in well under a
// second of CPU, against ~6 s for tsc's emit, so `npm run gateway` can rebuild after an edit and
// nobody waits. It does not type-check: `npm test` runs `tsc --noEmit` for that.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

// The folders compiled; test/ stays TypeScript (the tests run under tsx).
const SOURCE_DIRS = ['bus-schemas', 'common', 'gateway', 'workers', 'scripts', 'bench'];
// Not code, or not ours: the playground is served as it is (from the source tree), bench
// results are data.
const SKIPPED = new Set(['gateway/playground', 'bench/results']);
// Outside SOURCE_DIRS, yet a change means another build.
const BUILD_INPUTS = ['package.json', 'tsconfig.json', 'scripts/build.mjs'];
const STAMP = '.build.json';

const distOf = (root) => join(root, 'dist');

/** The compiled file for a source entry point: `gateway/server.ts` → `<root>/dist/gateway/server.js`. */
export function distFileOf(source, root = ROOT) {
  return join(distOf(root), source.replace(/\.ts$/, '.js'));
}

/**
 * Every source file to compile, and the newest modification time among them, the build inputs
 * and their folders (a folder's time changes when a file in it is added, removed or renamed).
 */
export function scanSources(root = ROOT) {
  const files = [];
  let newest = 0;
  const seen = (path) => {
    newest = Math.max(newest, statSync(path).mtimeMs);
  };
  const walk = (dir) => {
    seen(join(root, dir));
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (SKIPPED.has(path)) continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        files.push(path);
        seen(join(root, path));
      }
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(root, dir))) walk(dir);
  for (const file of BUILD_INPUTS) if (existsSync(join(root, file))) seen(join(root, file));
  return { files, newest };
}

/** True when dist/ was built from the sources as they are now. */
export function isFresh(root = ROOT) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(join(distOf(root), STAMP), 'utf8'));
  } catch {
    return false;
  }
  return typeof stamp.newest === 'number' && scanSources(root).newest <= stamp.newest;
}

/**
 * Compiles into a fresh folder and swaps it in for dist/, so a file deleted from the sources
 * leaves no stale .js behind and no reader sees a half-written dist/. Call it under the lock.
 */
export async function build(root = ROOT) {
  // Scanned before compiling: a file saved while esbuild runs makes the next check stale.
  const { files, newest } = scanSources(root);
  const dist = distOf(root);
  const next = `${dist}.new-${process.pid}`;
  const old = `${dist}.old-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  // Loaded only to build: starting from a fresh dist/ needs none of it.
  const esbuild = await import('esbuild');
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: files,
      outdir: next,
      outbase: '.',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Off by default at run time; NODE_OPTIONS=--enable-source-maps maps stack traces to the .ts lines.
      sourcemap: 'linked',
      logLevel: 'warning',
      tsconfig: existsSync(join(root, 'tsconfig.json')) ? join(root, 'tsconfig.json') : undefined,
    });
  } catch (err) {
    rmSync(next, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(next, STAMP), `${JSON.stringify({ newest, files: files.length })}\n`);
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(next, dist);
  rmSync(old, { recursive: true, force: true });
  return { files: files.length };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

/**
 * Runs `fn` holding dist.lock (a folder: mkdir is atomic), so two processes starting at once
 * (tests in parallel, a supervisor and a `npm run worker`) build once, not into each other.
 * A lock whose process is gone is taken over.
 */
export async function withBuildLock(fn, root = ROOT, timeoutMs = 120_000) {
  const lock = join(root, 'dist.lock');
  const owner = join(lock, 'pid');
  for (const start = Date.now(); ;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let pid;
    try {
      pid = Number(readFileSync(owner, 'utf8'));
    } catch {
      // Just made, its pid not written yet; or left by a crash between the two.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 10_000) pid = 0;
    }
    if (pid === 0 || (pid && !alive(pid))) rmSync(lock, { recursive: true, force: true });
    else if (Date.now() - start > timeoutMs) throw new Error(`${lock} is held by pid ${pid} for too long`);
    else await sleep(100);
  }
  try {
    writeFileSync(owner, String(process.pid));
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Builds dist/ when it is missing or older than the sources (a fresh clone installed without
 * scripts, an edit, a `git pull`); returns whether it built. A checkout nobody may write to
 * (a locked-down deployment) runs the dist/ it has, and says so.
 */
export async function ensureBuilt(say = () => {}, root = ROOT) {
  if (isFresh(root)) return false;
  try {
    return await withBuildLock(async () => {
      if (isFresh(root)) return false; // built by whoever held the lock
      const started = Date.now();
      const { files } = await build(root);
      say(`compiled ${files} files to ${relative(process.cwd(), distOf(root)) || '.'}/ in ${Date.now() - started} ms`);
      return true;
    }, root);
  } catch (err) {
    if (!['EACCES', 'EROFS', 'EPERM'].includes(err.code) || !existsSync(join(distOf(root), STAMP))) throw err;
    say(`dist/ is older than the sources but cannot be rebuilt here (${err.code}): running it as it is`);
    return false;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  withBuildLock(() => build())
    .then(({ files }) => process.stdout.write(`compiled ${files} files to dist/ in ${Date.now() - started} ms\n`))
    .catch((err) => {
      process.stderr.write(`build failed: ${err.message}\n`);
      process.exit(1);
    });
}
