/** Payload of record `seq` as the child writes it, so a parent can check contents. */
export function childPayload(seq: number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes, seq % 251);
  out.write(`rec-${seq}:`, 0, 'latin1');
  return out;
}

