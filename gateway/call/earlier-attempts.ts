/** One failed attempt of a call: its message, and the agent it asked where several may be asked. */
export interface FailedAttempt {
  readonly message: string;
  readonly agent?: string | undefined;
}

const ordinal = (n: number) => ['first', 'second', 'third'][n - 1] ?? `${n}th`;

/**
 * What a retried call's last error adds about the attempts before it: their failures, or, when
 * each failed as the last did (a backend down, say), only that, so the message says it once.
 */
export function earlierAttempts(last: FailedAttempt, earlier: readonly FailedAttempt[]): string {
  if (earlier.length === 0) return '';
  const nth = ordinal(earlier.length + 1);
  if (earlier.every((e) => e.message === last.message && e.agent === last.agent)) {
    const before = earlier.length === 1 ? 'the first' : 'each before it';
    return ` (this was the ${nth} attempt; ${before} failed the same way)`;
  }
  const said = earlier.map((e) => (e.agent === undefined ? e.message : `${e.agent}: ${e.message}`));
  return ` (this was the ${nth} attempt; before it: ${said.join('; ')})`;
}
