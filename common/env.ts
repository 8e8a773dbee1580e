/**
 * Reading configuration from the environment: each reader returns the parsed value or the
 * default, and records a problem that names the variable instead of throwing at the first one,
 * so a user fixing their setup sees every mistake at once.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface EnvReader {
  string(name: string, fallback: string): string;
  optionalString(name: string): string | undefined;
  integer(name: string, fallback: number, range?: { min?: number; max?: number }): number;
  url(name: string, fallback: string, protocols: string[]): string;
  /** One of `allowed`; anything else is a problem that lists them. */
  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T;
  list(name: string): string[];
  /** A comma list whose items are each one of `allowed`; unset → `fallback`. */
  listOf<T extends string>(name: string, fallback: readonly T[], allowed: readonly T[]): T[];
  /** Records a problem found by the caller (a file the variable names cannot be read, …). */
  report(problem: string): void;
  /** Throws a {@link ConfigError} listing every problem seen so far, if any. */
  done(): void;
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvReader {
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  return {
    string: (name, fallback) => raw(name) ?? fallback,
    optionalString: (name) => raw(name),
    integer(name, fallback, range = {}) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = Number(value);
      const { min = -Infinity, max = Infinity } = range;
      if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
        problems.push(`${name}=${JSON.stringify(value)} must be an integer between ${min} and ${max}`);
        return fallback;
      }
      return parsed;
    },
    url(name, fallback, protocols) {
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
    oneOf(name, fallback, allowed) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if ((allowed as readonly string[]).includes(value)) return value as typeof fallback;
      problems.push(`${name}=${JSON.stringify(value)} must be one of: ${allowed.join(', ')}`);
      return fallback;
    },
    list(name) {
      return (raw(name) ?? '')
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
    },
    listOf(name, fallback, allowed) {
      const value = raw(name);
      if (value === undefined) return [...fallback];
      const items = value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
      const unknown = items.filter((item) => !(allowed as readonly string[]).includes(item));
      if (unknown.length > 0) {
        problems.push(
          `${name}=${JSON.stringify(value)} names ${unknown.join(', ')}; each item must be one of: ${allowed.join(', ')}`,
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
