import * as fs from 'node:fs';

/**
 * Layout of an LMDB meta page as lmdb-js builds LMDB (its page header is 24
 * bytes: page number, txnid, pad, flags, lower, upper), little-endian:
 * `mm_dbs[0].md_pad` is the page size, `mm_dbs[1].md_root` the main
 * database's root page, then `mm_last_pg` and `mm_txnid`.
 */
const META = { psize: 48, mainRoot: 136, lastPage: 144, txnid: 152 } as const;

/** The newest meta page's facts. */
export function lmdbMeta(dataFile: string): { pageSize: number; mainRoot: number; lastPage: number; pages: number } {
  const buf = fs.readFileSync(dataFile);
  const pageSize = buf.readUInt32LE(META.psize);
  const at = (p: number, off: number): number => Number(buf.readBigUInt64LE(p * pageSize + off));
  const newest = at(0, META.txnid) >= at(1, META.txnid) ? 0 : 1;
  return { pageSize, mainRoot: at(newest, META.mainRoot), lastPage: at(newest, META.lastPage), pages: buf.length / pageSize };
}

/** Overwrites page `page` of `dataFile` with `fill` (one byte value) or seeded pseudo-random bytes. */
export function overwritePage(dataFile: string, page: number, fill: number | { seed: number }): void {
  const { pageSize } = lmdbMeta(dataFile);
  const bytes = Buffer.alloc(pageSize, typeof fill === 'number' ? fill : 0);
  if (typeof fill !== 'number') {
    let x = fill.seed >>> 0;
    for (let i = 0; i < pageSize; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      bytes[i] = x >>> 24;
    }
  }
  const fd = fs.openSync(dataFile, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, pageSize, page * pageSize);
  } finally {
    fs.closeSync(fd);
  }
}
