import { randomBytesPooled } from './random-bytes.js';

// Digits and letters in ASCII order, so that the time part of ids compares as the times do.
const SORTED = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const TIME_CHARS = 8; // 62^8 milliseconds: until the year 8888

/**
 * An id of 24 characters: the time in milliseconds (8 letters and digits that sort as the times
 * do), then 96 random bits in base64url. Ids made later sort later, so a database index of them
 * grows at its right edge, where a random id put each new turn and session on a page of its own
 * (BENCHMARKS.md, row 45).
 */
export function timeOrderedId(nowMs: number): string {
  let time = '';
  let rest = Math.max(0, Math.floor(nowMs));
  for (let i = 0; i < TIME_CHARS; i++) {
    time = SORTED[rest % 62]! + time;
    rest = Math.floor(rest / 62);
  }
  return time + randomBytesPooled(12).toString('base64url');
}
