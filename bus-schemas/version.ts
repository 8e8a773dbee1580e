/**
 * Version of the bus protocol carried in every envelope (`v`). A worker answers an envelope
 * of any other version with an `invalid_envelope` error frame instead of guessing.
 */
export const PROTOCOL_VERSION = 1 as const;
