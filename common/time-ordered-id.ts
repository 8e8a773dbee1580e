import { randomBytesPooled } from './random-bytes.js';

// Base 36 (digits, then lowercase letters): these sort in that order bytewise (SQLite, PostgreSQL's
// "C") and under a database's language collation too (PostgreSQL's default, which `sessions.id`
// has), where upper and lower case would interleave.
const TIME_CHARS = 9; // 36^9 milliseconds: until the year 5138

/**
 * An id of 25 characters: the time in milliseconds (9 base-36 characters that sort as the times
 * do), then 96 random bits in base64url. Ids made later sort later, so a database index of them
 * grows at its right edge, where a random id put each new turn and session on a page of its own
 * (BENCHMARKS.md, row 45).
 */
export function timeOrderedId(nowMs: number): string {
  const time = Math.max(0, Math.floor(nowMs)).toString(36).padStart(TIME_CHARS, '0');
  return time + randomBytesPooled(12).toString('base64url');
}
