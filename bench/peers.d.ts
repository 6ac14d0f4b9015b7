// Minimal typings of the peers that ship none (only what the benchmark calls).

declare module 'better-sqlite3' {
  namespace Database {
    interface Statement {
      run(...params: unknown[]): { changes: number };
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
      iterate(...params: unknown[]): IterableIterator<unknown>;
      pluck(on?: boolean): Statement;
    }
  }
  class Database {
    constructor(file: string, options?: Record<string, unknown>);
    pragma(source: string, options?: { simple?: boolean }): unknown;
    exec(source: string): this;
    prepare(source: string): Database.Statement;
    transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
    close(): void;
  }
  export default Database;
}

declare module 'hypercore' {
  import type { Readable } from 'node:stream';
  class Hypercore {
    constructor(storage: string, options?: Record<string, unknown>);
    readonly length: number;
    ready(): Promise<void>;
    append(block: Uint8Array | Uint8Array[]): Promise<{ length: number; byteLength: number }>;
    get(index: number, options?: Record<string, unknown>): Promise<Buffer | null>;
    createReadStream(options?: { start?: number; end?: number }): Readable & AsyncIterable<Buffer>;
    close(): Promise<void>;
  }
  export default Hypercore;
}
