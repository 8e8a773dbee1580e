// C0 controls but tab, line feed and carriage return, and DEL.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * The text as the speech engine reads it: control characters become spaces. espeak-ng stops
 * reading its input at a NUL, so "hello\u0000 world" was spoken as "hello" alone, and the rest
 * of the text silently lost.
 */
export function speakableText(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ');
}
