import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchStack, StackSettings } from './stack.js';

/**
 * `startBenchStack` of another checkout (its `dist/`, built with `node scripts/build.mjs` there), so
 * an A/B runs two trees' code under one load generator on the same machine.
 */
export async function startBenchStackOf(tree: string): Promise<(settings: StackSettings) => Promise<BenchStack>> {
  const url = pathToFileURL(resolve(tree, 'dist/bench/stack.js')).href;
  return ((await import(url)) as { startBenchStack: (settings: StackSettings) => Promise<BenchStack> }).startBenchStack;
}
