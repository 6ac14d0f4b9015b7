/** A record read back from the log. */
export interface LogRecord {
  /** Sequence number: 0 for the first record of a new log, then +1 per record. */
  seq: number;
  /** Append time in ms since the epoch; never decreases along the log. */
  timestamp: number;
  /** The bytes appended (a string was stored as UTF-8). */
  payload: Buffer;
}
