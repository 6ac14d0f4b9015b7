import { assert } from '../assert.js';

/**
 * Pins on the log: each holds every record from its sequence number on, so
 * retention never deletes a segment a backup, snapshot or slow consumer still
 * needs. Pins are in memory and belong to the handle that made them.
 */
export class Pins {
  private readonly held = new Map<number, { fromSeq: number; reason: string }>();
  private nextId = 0;

  /** Holds records from `fromSeq` on; call the returned function to release. */
  pin(fromSeq: number, reason: string): () => void {
    assert(Number.isSafeInteger(fromSeq) && fromSeq >= 0, `pin from a valid sequence number, got ${fromSeq}`);
    const id = this.nextId++;
    this.held.set(id, { fromSeq, reason });
    return () => {
      this.held.delete(id);
    };
  }

  /** The lowest pinned sequence number, or undefined when nothing is pinned. */
  lowestPinnedSeq(): number | undefined {
    let lowest: number | undefined;
    for (const p of this.held.values()) if (lowest === undefined || p.fromSeq < lowest) lowest = p.fromSeq;
    return lowest;
  }

  /** What is pinned, for reports. */
  list(): Array<{ fromSeq: number; reason: string }> {
    return [...this.held.values()];
  }
}
