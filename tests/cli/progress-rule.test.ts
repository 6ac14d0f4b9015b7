import { describe, expect, it } from 'vitest';
import { progressAllowed } from '../../src/cli/io.js';

describe('when the CLI draws a progress bar', () => {
  const streams = (stderrTTY: boolean, stdout: 'tty' | 'file' | 'pipe') => ({ stderrTTY, stdoutTTY: stdout === 'tty', stdoutFile: stdout === 'file' });

  it('only with stderr on a terminal', () => {
    for (const stdout of ['tty', 'file', 'pipe'] as const) expect(progressAllowed({ json: false }, streams(false, stdout))).toBe(false);
  });

  it('never into JSON output', () => {
    for (const stdout of ['tty', 'file', 'pipe'] as const) {
      expect(progressAllowed({ json: true }, streams(true, stdout))).toBe(false);
      expect(progressAllowed({ json: true, streaming: true }, streams(true, stdout))).toBe(false);
    }
  });

  it('never when stdout is a pipe (the next program prints to the same terminal)', () => {
    expect(progressAllowed({ json: false }, streams(true, 'pipe'))).toBe(false);
    expect(progressAllowed({ json: false, streaming: true }, streams(true, 'pipe'))).toBe(false);
  });

  it('a command that prints its report at the end: stdout on the terminal or in a file', () => {
    expect(progressAllowed({ json: false }, streams(true, 'tty'))).toBe(true);
    expect(progressAllowed({ json: false }, streams(true, 'file'))).toBe(true);
  });

  it('a command that streams records to stdout: only when they go to a file', () => {
    expect(progressAllowed({ json: false, streaming: true }, streams(true, 'tty'))).toBe(false);
    expect(progressAllowed({ json: false, streaming: true }, streams(true, 'file'))).toBe(true);
  });
});
