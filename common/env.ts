/**
 * Reading configuration from the environment: each reader returns the parsed value or the
 * default, and records a problem that names the variable instead of throwing at the first one,
 * so a user fixing their setup sees every mistake at once.
 *
 * Every read carries its one-line description: docs/configuration.md is generated from these
 * calls (`npm run docs`, scripts/generate-docs.ts), so the reference cannot drift from the code.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** What the configuration reference says about a variable, written at the line that reads it. */
export interface EnvDoc {
  /** One line: what the variable sets (Markdown). */
  doc: string;
  /** The default as the reference shows it (Markdown), when the code's own is computed (`DATA_DIR/keys.json`). */
  shownDefault?: string;
}

export type IntegerSpec = EnvDoc & { min?: number; max?: number };
export type UrlSpec = EnvDoc & { protocols: readonly string[] };
export type ChoiceSpec<T extends string> = EnvDoc & { allowed: readonly T[] };

export interface EnvReader {
  string(name: string, fallback: string, spec: EnvDoc): string;
  optionalString(name: string, spec: EnvDoc): string | undefined;
  integer(name: string, fallback: number, spec: IntegerSpec): number;
  url(name: string, fallback: string, spec: UrlSpec): string;
  /** One of `allowed`; anything else is a problem that lists them. */
  oneOf<T extends string>(name: string, fallback: T, spec: ChoiceSpec<T>): T;
  /** A comma list; unset → empty. */
  list(name: string, spec: EnvDoc): string[];
  /** A comma list whose items are each one of `allowed`; unset → `fallback`. */
  listOf<T extends string>(name: string, fallback: readonly T[], spec: ChoiceSpec<T>): T[];
  /** Records a problem found by the caller (a file the variable names cannot be read, …). */
  report(problem: string): void;
  /** Throws a {@link ConfigError} listing every problem seen so far, if any. */
  done(): void;
}

const splitList = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvReader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  return {
    string: (name, fallback) => raw(name) ?? fallback,
    optionalString: (name) => raw(name),
    integer(name, fallback, { min = -Infinity, max = Infinity }) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        problems.push(`${name}=${JSON.stringify(value)} must be an integer between ${min} and ${max}`);
        return fallback;
      }
      return parsed;
    },
    url(name, fallback, { protocols }) {
      const value = raw(name) ?? fallback;
      try {
        const url = new URL(value);
        if (!protocols.includes(url.protocol)) throw new Error(`protocol ${url.protocol}`);
        return value.replace(/\/+$/, '');
      } catch {
        problems.push(
          `${name}=${JSON.stringify(value)} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
        );
        return fallback;
      }
    },
    oneOf(name, fallback, { allowed }) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if ((allowed as readonly string[]).includes(value)) return value as typeof fallback;
      problems.push(`${name}=${JSON.stringify(value)} must be one of: ${allowed.join(', ')}`);
      return fallback;
    },
    list: (name) => splitList(raw(name) ?? ''),
    listOf(name, fallback, { allowed }) {
      const value = raw(name);
      if (value === undefined) return [...fallback];
      const items = splitList(value);
      const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
      if (unknown.length > 0) {
        problems.push(
          `${name}=${JSON.stringify(value)} names ${unknown.join(', ')}; ` +
            `each item must be one of: ${allowed.join(', ')}`,
        );
        return [...fallback];
      }
      return items as (typeof fallback)[number][];
    },
    report(problem) {
      problems.push(problem);
    },
    done() {
      if (problems.length > 0) throw new ConfigError(problems);
    },
  };
}
