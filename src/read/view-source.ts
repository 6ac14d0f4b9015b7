import type { BatchSource } from './batch-source.js';
import type { LogRecord } from './record.js';

/**
 * A read of the log as the handle sees it when the read starts: a read-only
 * handle first catches up with the writer (`catchUp`), the scan opens then
 * (`open` takes the range's defaults at that moment), and its end is checked
 * once (`atEnd`: records past the view that no watermark vouches for reject
 * rather than end the read as if there were none).
 */
export class ViewSource implements BatchSource {
  private scan: BatchSource | undefined;
  private ended = false;

  constructor(
    /** Undefined when the view is current already (the writer's own handle). */
    private readonly catchUp: (() => Promise<void>) | undefined,
    private readonly open: () => BatchSource,
    private readonly atEnd: () => void,
  ) {}

  nextSync(): readonly LogRecord[] | null | undefined {
    if (this.ended) return null;
    if (this.scan === undefined) {
      if (this.catchUp !== undefined) return undefined;
      this.scan = this.open();
    }
    const batch = this.scan.nextSync();
    if (batch === null) {
      this.ended = true;
      this.atEnd();
    }
    return batch;
  }

  async fill(): Promise<void> {
    if (this.scan !== undefined) return this.scan.fill();
    await this.catchUp?.();
    this.scan = this.open();
  }

  async close(): Promise<void> {
    this.ended = true;
    await this.scan?.close();
  }
}
