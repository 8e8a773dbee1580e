import { Ajv, type Options } from 'ajv';

/**
 * An ajv for our own schemas, which it does not check against the JSON Schema meta-schema: each
 * instance that does compiles the meta-schema first, ~50 ms of CPU, and a gateway has eight of
 * them, all made at start. test/unit/schema-files.test.ts checks every exported schema against
 * the meta-schema instead, once; `strict` still refuses an unknown keyword when compiling.
 */
export function ownSchemaAjv(options: Options): Ajv {
  return new Ajv({ ...options, validateSchema: false });
}
