import type { NPortForward } from '../../model/normalize.ts'

/** Pure. DNAT target for a forward: ports kept, one port mapped, or a range shifted by offset. */
export function dnatTarget(r: NPortForward): string {
  if (r.publicStart === r.privateStart && r.publicEnd === r.privateEnd) return r.privateIp
  if (r.privateStart === r.privateEnd) return `${r.privateIp}:${r.privateStart}`
  // `/base` makes the kernel map port p to privateStart + (p - base) instead of picking any port of the range.
  return `${r.privateIp}:${r.privateStart}-${r.privateEnd}/${r.publicStart}`
}
