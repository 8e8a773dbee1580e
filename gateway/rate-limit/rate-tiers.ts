import { readJsonConfig } from '../../common/json-config-file.js';
import { rateTiersSchema, type RateTiersFile } from './rate-tiers.schema.js';
import { packagePath } from '../../common/package-root.js';
import { ownSchemaAjv } from '../../bus-schemas/index.js';

/** The tiers file shipped with the repository. */
export const DEFAULT_RATE_TIERS_FILE = packagePath('config', 'rate-tiers.json');

/** The fixed windows of a tier, shortest first. */
export type WindowName = 'minute' | 'hour' | 'day';

/** One window's token bucket: `limit` tokens, refilled at `limit` per `periodMs`. */
export interface WindowLimit {
  readonly window: WindowName;
  readonly limit: number;
  readonly periodMs: number;
}

/** A row of the tiers table, ready for the limiter. */
export interface RateTier {
  readonly name: string;
  /** Only the windows the tier limits, shortest first; empty: no request limit. */
  readonly windows: readonly WindowLimit[];
  /** Requests a key may have in flight at once; undefined: no cap. */
  readonly concurrentStreams: number | undefined;
  /** `max_input_bytes`: body bytes per minute as a bucket; undefined: no cap. */
  readonly inputBytes: WindowLimit | undefined;
}

/** The window of `max_input_bytes`. */
export const INPUT_BYTES_PERIOD_MS = 60_000;

const bytesWindow = (limit: number | undefined): WindowLimit | undefined =>
  limit === undefined ? undefined : Object.freeze({ window: 'minute', limit, periodMs: INPUT_BYTES_PERIOD_MS });

/** Whether a tier limits anything (else the limiter never asks the store). */
export const isLimited = (tier: RateTier): boolean =>
  tier.windows.length > 0 || tier.concurrentStreams !== undefined || tier.inputBytes !== undefined;

/** The tiers table. */
export interface RateTiers {
  readonly source: string;
  readonly names: readonly string[];
  has(name: string): boolean;
  /**
   * The tier called `name`; a name missing from the table gets {@link strictest} instead, so a
   * typo in a key's tier limits that key hard rather than failing its requests or freeing it.
   */
  resolve(name: string): RateTier;
  /** Every limit at its lowest across the table (named "strictest"). */
  readonly strictest: RateTier;
}

const PERIODS: ReadonlyArray<[WindowName, 'requests_per_minute' | 'requests_per_hour' | 'requests_per_day', number]> = [
  ['minute', 'requests_per_minute', 60_000],
  ['hour', 'requests_per_hour', 3_600_000],
  ['day', 'requests_per_day', 86_400_000],
];

/** The longest window: a tenant idle this long has full buckets again. */
export const LONGEST_WINDOW_MS = 86_400_000;

const validateTiers = ownSchemaAjv({ strict: true, allErrors: false }).compile<RateTiersFile>(rateTiersSchema);

const minOf = (values: Array<number | undefined>): number | undefined => {
  const present = values.filter((value): value is number => value !== undefined);
  return present.length > 0 ? Math.min(...present) : undefined;
};

/** The table from an already-parsed file. */
export function rateTiersFrom(file: RateTiersFile, source = 'rate tiers'): RateTiers {
  const tiers = new Map<string, RateTier>();
  for (const [name, row] of Object.entries(file.tiers)) {
    const windows = PERIODS.flatMap(([window, field, periodMs]) =>
      row[field] === undefined ? [] : [{ window, limit: row[field], periodMs }],
    );
    tiers.set(
      name,
      Object.freeze({
        name,
        windows: Object.freeze(windows),
        concurrentStreams: row.concurrent_streams,
        inputBytes: bytesWindow(row.max_input_bytes),
      }),
    );
  }
  const rows = [...tiers.values()];
  // A window limited by any tier is limited in the strictest one, at the lowest value seen.
  const strictest: RateTier = Object.freeze({
    name: 'strictest',
    windows: Object.freeze(
      PERIODS.flatMap(([window, , periodMs]) => {
        const limit = minOf(rows.map((tier) => tier.windows.find((w) => w.window === window)?.limit));
        return limit === undefined ? [] : [{ window, limit, periodMs }];
      }),
    ),
    concurrentStreams: minOf(rows.map((tier) => tier.concurrentStreams)),
    inputBytes: bytesWindow(minOf(rows.map((tier) => tier.inputBytes?.limit))),
  });
  return Object.freeze({
    source,
    names: Object.freeze([...tiers.keys()]),
    has: (name: string) => tiers.has(name),
    resolve: (name: string) => tiers.get(name) ?? strictest,
    strictest,
  });
}

/** Loads RATE_TIERS_FILE; a broken file stops the gateway at boot, naming the field at fault. */
export function loadRateTiers(file: string = DEFAULT_RATE_TIERS_FILE): RateTiers {
  const { value, source } = readJsonConfig(
    file,
    { name: 'rate tiers', envVar: 'RATE_TIERS_FILE', subject: 'tiers' },
    validateTiers,
  );
  return rateTiersFrom(value, source);
}
