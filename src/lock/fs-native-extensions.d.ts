/**
 * Types for the part of `fs-native-extensions` (a CommonJS native module with
 * no types of its own) that the writer lock uses.
 */
declare module 'fs-native-extensions' {
  interface FsNativeExtensions {
    /**
     * Takes a lock on the open file `fd` without waiting: an exclusive one
     * unless `shared` (an exclusive lock needs `fd` open for writing). Linux:
     * an open file description lock (fcntl F_OFD_SETLK); macOS: flock;
     * Windows: LockFileEx. Returns false if another holder has a conflicting
     * lock; throws on other errors (e.g. ENOLCK where the file system has no
     * locks).
     */
    tryLock(fd: number, opts?: { shared?: boolean }): boolean;
    /** Drops a lock taken on `fd` (closing the descriptor drops it too). */
    unlock(fd: number): void;
  }
  const fsx: FsNativeExtensions;
  export default fsx;
}
