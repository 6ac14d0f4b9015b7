import * as fs from 'node:fs';

/**
 * How far a kernel lock reaches, so a later writer knows whether the lock it
 * was granted proves the previous holder gone. On one kernel it always does:
 * every process of every namespace and container goes through it. Across
 * kernels (hosts sharing a network file system) only if the file system
 * forwards locks, which some do not (NFS mounted with `nolock` or
 * `local_lock`, many FUSE file systems): there the lease must decide.
 *
 * @module
 */

/**
 * The running kernel's boot id (Linux), shared by every namespace and
 * container on it and new at every boot; undefined elsewhere.
 */
export function bootId(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** statfs f_type of Linux file systems on local block devices or in memory: one kernel mounts them, so its locks cover every user. */
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, // ext2/3/4
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x01021994, // tmpfs
  0x858458f6, // ramfs
  0x794c7630, // overlayfs (container layers on a local disk)
  0x2fc12fc1, // zfs
  0xf2f52010, // f2fs
  0xca451a4e, // bcachefs
  0x3153464a, // jfs
]);

/**
 * Whether `dir` is on a file system that only this kernel can mount, so that
 * a kernel lock granted on it proves no process anywhere holds it, even one
 * recorded under another boot id (a lock left before a reboot).
 */
export function kernelLockCoversAllHolders(dir: string): boolean {
  if (process.platform !== 'linux') return false;
  try {
    // f_type is a signed word on some 32-bit platforms: compare as unsigned.
    return LOCAL_FILE_SYSTEMS.has(Number(fs.statfsSync(dir).type) >>> 0);
  } catch {
    return false;
  }
}
