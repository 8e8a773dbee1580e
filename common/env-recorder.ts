import { readEnv, type EnvDoc, type EnvReader } from './env.js';

/** How a variable is parsed, as the configuration reference shows it. */
export type EnvKind = 'text' | 'integer' | 'url' | 'choice' | 'list' | 'choice list';

/** One read of a variable: everything docs/configuration.md says about it. */
export interface RecordedVariable extends EnvDoc {
  name: string;
  kind: EnvKind;
  /** The default as the code has it; undefined when unset means unset. */
  fallback: string | undefined;
  min?: number;
  max?: number;
  /** Allowed values (`choice`, `choice list`) or URL protocols (`url`). */
  allowed?: readonly string[];
}

/**
 * An {@link EnvReader} over an empty environment that notes every variable read, for the docs
 * generator: the loaders run with it and get their defaults. It reports no problem and never
 * throws, so a loader's own checks (files that must exist, …) do not stop the recording.
 */
export function recordingEnvReader(): { read: EnvReader; variables: RecordedVariable[] } {
  const variables: RecordedVariable[] = [];
  const empty = readEnv({});
  const note = (
    name: string,
    kind: EnvKind,
    fallback: string | number | readonly string[] | undefined,
    spec: EnvDoc,
    extra: Partial<RecordedVariable> = {},
  ) =>
    variables.push({
      name,
      kind,
      fallback: typeof fallback === 'object' ? fallback.join(',') : fallback?.toString(),
      doc: spec.doc,
      ...(spec.shownDefault === undefined ? {} : { shownDefault: spec.shownDefault }),
      ...extra,
    });
  const read: EnvReader = {
    string(name, fallback, spec) {
      note(name, 'text', fallback, spec);
      return empty.string(name, fallback, spec);
    },
    optionalString(name, spec) {
      note(name, 'text', undefined, spec);
      return undefined;
    },
    integer(name, fallback, spec) {
      note(name, 'integer', fallback, spec, { min: spec.min, max: spec.max });
      return fallback;
    },
    url(name, fallback, spec) {
      note(name, 'url', fallback, spec, { allowed: spec.protocols });
      return empty.url(name, fallback, spec);
    },
    oneOf(name, fallback, spec) {
      note(name, 'choice', fallback, spec, { allowed: spec.allowed });
      return fallback;
    },
    list(name, spec) {
      note(name, 'list', undefined, spec);
      return [];
    },
    listOf(name, fallback, spec) {
      note(name, 'choice list', fallback, spec, { allowed: spec.allowed });
      return [...fallback];
    },
    report: () => {},
    done: () => {},
  };
  return { read, variables };
}
