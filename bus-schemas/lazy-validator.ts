import type { ValidateFunction } from 'ajv';

// Compiling a JSON Schema with ajv costs milliseconds to tens of milliseconds each; compiled at
// import, the bus, WebSocket and route schemas took a gateway or worker start ~0.4 s of CPU
// before it could serve. Compiled on first use instead, and all at once right after the
// process reports ready (compileValidatorsNow), so no request waits for one either.
const pending = new Set<() => unknown>();

/** A validator compiled by `compile` when first called; `errors` are those of its last call. */
export function compiledOnUse<T>(compile: () => ValidateFunction<T>): ValidateFunction<T> {
  let compiled: ValidateFunction<T> | undefined;
  const get = () => {
    if (!compiled) {
      compiled = compile();
      pending.delete(get);
    }
    return compiled;
  };
  pending.add(get);
  const validate = (value: unknown) => get()(value);
  Object.defineProperty(validate, 'errors', { get: () => compiled?.errors });
  return validate as unknown as ValidateFunction<T>;
}

/** Compiles every validator made by compiledOnUse that was not used yet. */
export function compileValidatorsNow(): void {
  for (const compile of [...pending]) compile();
}
