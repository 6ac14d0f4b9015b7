/**
 * The snapshot worker's code is CommonJS evaluated in a new thread, which
 * inherits the parent's `execArgv`: a parent started with
 * `--input-type=module` (`node --input-type=module -e '...'`) used to make it
 * an ES module, where `require` does not exist, and every save failed with
 * AOF_SNAPSHOT_FAILED (stage worker). Runs the compiled package (dist/).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { distPath } from '../helpers/child.js';
import { tempDir } from './helpers.js';

describe('the snapshot worker starts whatever flags the process has', () => {
  it('a save and a read under `node --input-type=module -e`', async () => {
    const dir = tempDir();
    const script = `
      const { SnapshotStore } = await import(${JSON.stringify(distPath('src/index.js'))});
      const store = await SnapshotStore.open(${JSON.stringify(dir)});
      const info = await store.save(7, Buffer.alloc(3 * 1024 * 1024 + 5, 7));
      const snap = await store.latest();
      await store.close();
      console.log(JSON.stringify({ checksum: info.checksum, seq: snap.seq, bytes: snap.data.byteLength }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toMatchObject({ seq: 7, bytes: 3 * 1024 * 1024 + 5 });
  });
});
