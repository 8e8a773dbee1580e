import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LLAMA_CPP_PREFIX } from '../../workers/providers/llama-cpp/load-module.js';

// node-llama-cpp's own JSON Schema to GBNF converter: it needs no model nor native binary, so a unit
// test can read the grammar a schema becomes. Not a public export of node-llama-cpp 3.x, hence the path.
const CONVERTER = join(
  LLAMA_CPP_PREFIX,
  'node_modules/node-llama-cpp/dist/utils/gbnfJson/getGbnfGrammarForGbnfJsonSchema.js',
);

type Converter = (schema: Record<string, unknown>) => string;

/** The GBNF text node-llama-cpp writes for a schema in its form; undefined where it is not installed. */
export async function gbnfConverter(): Promise<Converter | undefined> {
  if (!existsSync(CONVERTER)) return undefined;
  const module = (await import(pathToFileURL(CONVERTER).href)) as { getGbnfGrammarForGbnfJsonSchema: Converter };
  return (schema) => module.getGbnfGrammarForGbnfJsonSchema(schema);
}

/** The names of the rules a GBNF text defines. */
export const ruleNames = (gbnf: string): Set<string> =>
  new Set(gbnf.split('\n').flatMap((line) => line.match(/^([\w-]+) ::=/)?.[1] ?? []));
