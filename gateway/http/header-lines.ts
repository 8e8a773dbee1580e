/**
 * How many lines of the header `lowerCaseName` a request sent. Node's `headers` object shows the
 * first line only for the fields that may appear once (Host, Authorization), so a second one —
 * which a proxy in front may have gone by instead — is seen only here.
 */
export function headerLines(rawHeaders: readonly string[], lowerCaseName: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === lowerCaseName.length && name.toLowerCase() === lowerCaseName) count++;
  }
  return count;
}
