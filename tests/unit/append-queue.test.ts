import { describe, expect, it } from 'vitest';
import { AppendQueue, type PendingAppend, type PendingControl, type PendingItem } from '../../src/write/append-queue.js';

function append(name: string, frameBytes: number): PendingAppend & { name: string } {
  return { kind: 'append', name, payloads: [new Uint8Array(Math.max(0, frameBytes - 4))], frameBytes, resolve: () => undefined, reject: () => undefined };
}

function control(name: string, kind: 'roll' | 'flush' = 'flush'): PendingControl & { name: string } {
  return { kind, name, resolve: () => undefined, reject: () => undefined };
}

const nameOf = (item: PendingItem | undefined): string | undefined => (item as { name?: string } | undefined)?.name;

describe('AppendQueue', () => {
  it('admits appends while the admitted bytes stay within maxPendingBytes', () => {
    const q = new AppendQueue(100);
    q.push(append('a', 40));
    q.push(append('b', 60)); // exactly at the bound
    expect(q.admittedCount).toBe(2);
    expect(q.pendingBytes).toBe(100);
    q.push(append('c', 1));
    expect(q.waitingCount).toBe(1);
    expect(q.pendingBytes).toBe(100);
  });

  it('is FIFO, and a waiting append holds back later ones that would fit', () => {
    const q = new AppendQueue(100);
    q.push(append('a', 50));
    q.push(append('b', 30));
    q.push(append('c', 40)); // 120 > 100: waits
    q.push(append('d', 5)); // would fit (85), but must not overtake c
    q.push(control('f'));
    expect(q.admittedCount).toBe(2);
    expect(q.waitingCount).toBe(3);
    expect(nameOf(q.peek())).toBe('a');
    expect(nameOf(q.shift())).toBe('a'); // frees 50: c (70) and d (75) come in, then the control
    expect(q.waitingCount).toBe(0);
    expect(q.pendingBytes).toBe(75);
    const order: Array<string | undefined> = [];
    for (let item = q.shift(); item !== undefined; item = q.shift()) order.push(nameOf(item));
    expect(order).toEqual(['b', 'c', 'd', 'f']);
    expect(q.isEmpty).toBe(true);
    expect(q.pendingBytes).toBe(0);
  });

  it('lets waiting items in only as room frees up, in order', () => {
    const q = new AppendQueue(10);
    for (let i = 0; i < 10; i++) q.push(append(`x${i}`, 4));
    expect(q.admittedCount).toBe(2); // 8 bytes; a third would make 12
    const seen: Array<string | undefined> = [];
    while (!q.isEmpty) {
      expect(q.pendingBytes).toBeLessThanOrEqual(10);
      seen.push(nameOf(q.shift()));
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `x${i}`));
  });

  it('admits an append larger than the bound when nothing else is admitted, alone', () => {
    const q = new AppendQueue(100);
    q.push(append('huge', 10_000));
    expect(q.admittedCount).toBe(1);
    expect(q.pendingBytes).toBe(10_000);
    q.push(append('small', 1));
    expect(q.waitingCount).toBe(1);
    expect(nameOf(q.shift())).toBe('huge');
    expect(q.admittedCount).toBe(1);
    expect(nameOf(q.shift())).toBe('small');
    // Behind something admitted, an oversized append waits until the queue is empty.
    q.push(append('a', 10));
    q.push(append('huge2', 500));
    expect(q.waitingCount).toBe(1);
    q.shift();
    expect(q.admittedCount).toBe(1);
    expect(nameOf(q.peek())).toBe('huge2');
  });

  it('control items take no room but keep their place', () => {
    const q = new AppendQueue(10);
    q.push(control('r1', 'roll'));
    q.push(append('a', 10));
    q.push(control('f1'));
    expect(q.admittedCount).toBe(3);
    expect(q.pendingBytes).toBe(10);
    expect([nameOf(q.shift()), nameOf(q.shift()), nameOf(q.shift())]).toEqual(['r1', 'a', 'f1']);
  });

  it('drain removes everything, admitted first, and resets the byte count', () => {
    const q = new AppendQueue(10);
    q.push(append('a', 6));
    q.push(append('b', 6));
    q.push(control('f'));
    const all = q.drain();
    expect(all.map(nameOf)).toEqual(['a', 'b', 'f']);
    expect(q.isEmpty).toBe(true);
    expect(q.pendingBytes).toBe(0);
    expect(q.peek()).toBeUndefined();
    expect(q.shift()).toBeUndefined();
    q.push(append('c', 10));
    expect(q.admittedCount).toBe(1);
  });

  it('rejects a non-positive bound', () => {
    expect(() => new AppendQueue(0)).toThrow(expect.objectContaining({ code: 'AOF_INVARIANT' }));
  });
});
