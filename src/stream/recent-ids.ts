/** Where an event with a given id was written. */
export interface IdEntry {
  stream: string;
  version: number;
  position: number;
}

/**
 * The ids of the most recent events, at most `capacity` of them (the oldest
 * forgotten first): what makes a retried append with expectation `'any'` or
 * `'stream_exists'` idempotent.
 */
export class RecentIds {
  private readonly byId = new Map<string, IdEntry>();

  constructor(readonly capacity: number) {}

  /** Remembers that event `id` was written at `stream`/`version`/`position`. */
  add(id: string, entry: IdEntry): void {
    if (this.capacity === 0) return;
    this.byId.delete(id);
    this.byId.set(id, entry);
    if (this.byId.size > this.capacity) this.byId.delete(this.byId.keys().next().value!);
  }

  get(id: string): IdEntry | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.byId.size;
  }
}
