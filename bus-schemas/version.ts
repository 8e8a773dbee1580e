/**
 * Version of the bus protocol carried in every message that has one (`v`). The rule: a change a
 * receiver must understand to stay correct raises the version; a new optional field does not.
 * Receivers accept {@link ACCEPTED_PROTOCOL_VERSIONS} (the current and the previous version, so
 * a rolling upgrade and the replay of stored envelopes keep working) and answer any other with
 * an `invalid_envelope` error frame instead of guessing.
 *
 * - 1: the first protocol.
 * - 2: delivery receipts. A worker sends the `done` of a stored turn as a request; the turn is
 *   committed to the conversation only when the requester answers that the client received the
 *   whole answer (docs/bus.md, "Delivery receipts"). A v1 envelope is committed on `done`.
 */
export const PROTOCOL_VERSION = 2 as const;

/** The versions a receiver accepts, oldest first. */
export const ACCEPTED_PROTOCOL_VERSIONS = [1, 2] as const;

export type ProtocolVersion = (typeof ACCEPTED_PROTOCOL_VERSIONS)[number];
