/**
 * Tokens of `chars` characters where no engine counted them (espeak-ng's speech input, an upstream
 * that sent no usage): about four characters a token in English text, rounded up.
 */
export const estimatedTokens = (chars: number): number => Math.ceil(chars / 4);
