/**
 * Holds an LMDB read transaction open on a log's catalog from another
 * process, as a reader of the catalog (`aof stat`, a read-only handle, a
 * backup tool) may: while it lives, the writer's commits cannot reuse the
 * pages it can still see, so each commit needs fresh pages and the catalog
 * file grows. Prints `pinned` once the snapshot is held; lets it go and
 * exits when stdin ends.
 *
 * Usage: node catalog-snapshot-holder.js DIR
 */
import * as path from 'node:path';
import { open } from 'lmdb';
import { CATALOG_DIR } from '../catalog/catalog.js';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: catalog-snapshot-holder DIR');
const env = open({ path: path.join(dir, CATALOG_DIR), readOnly: true, maxDbs: 8, compression: false });
const txn = env.useReadTransaction();
// A read through the snapshot, so that it is really taken.
[...env.getKeys({ limit: 10, transaction: txn } as never)];
process.stdout.write('pinned\n');
process.stdin.resume();
process.stdin.on('end', () => {
  txn.done();
  void env.close().then(() => process.exit(0));
});
