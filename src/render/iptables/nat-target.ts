import type { NPortForward } from '../../model/normalize.ts'

/** Pure. DNAT target for a forward: ports kept, one port mapped, or a range shifted by offset. */
export function dnatTarget(r: NPortForward): string {
  const pub = r.publicPorts
  const priv = r.privatePorts
  if (pub.start === priv.start && pub.end === priv.end) return r.privateIp
  if (priv.start === priv.end) return `${r.privateIp}:${priv.start}`
  // `/base` makes the kernel map port p to priv.start + (p - base) instead of picking any port of the range.
  return `${r.privateIp}:${priv.start}-${priv.end}/${pub.start}`
}
