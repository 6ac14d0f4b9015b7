import { describe, expect, it } from 'vitest';
import { distPath, runNode } from '../helpers/child.js';

/**
 * `import 'aof'` must not load the AWS SDK (about 125 ms of a fresh
 * process's start, issue 19): it is loaded by the first S3Archive only.
 * Checked in a fresh process, where the module cache shows what was loaded.
 */
describe('import cost', () => {
  const script = (makeArchive: boolean): string => `
    const { createRequire } = await import('node:module');
    const aof = await import(${JSON.stringify(distPath('src/index.js'))});
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('@aws-sdk'));
    const before = loaded();
    if (${makeArchive}) new aof.S3Archive({ bucket: 'some-bucket', endpoint: 'http://127.0.0.1:1' });
    console.log(JSON.stringify({ before, after: loaded() }));`;

  it('does not load the AWS SDK until an S3Archive is made', async () => {
    const plain = await runNode(['--input-type=module', '-e', script(false)]);
    expect(plain.stderr).toBe('');
    expect(JSON.parse(plain.stdout)).toEqual({ before: false, after: false });
    const withArchive = await runNode(['--input-type=module', '-e', script(true)]);
    expect(JSON.parse(withArchive.stdout.trim().split('\n').pop()!)).toEqual({ before: false, after: true });
  });
});
