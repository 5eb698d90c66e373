import type { Socket } from 'node:dgram'
import { createRequire } from 'node:module'

/**
 * Socket options Node does not offer, set through the `sockopt` native addon (loaded at run
 * time next to the bundle; esbuild keeps it external). Linux values.
 */

const SOL_SOCKET = 1
const SO_RCVBUFFORCE = 33
const SO_BINDTOIFINDEX = 62
/** Room for a burst of ~5,000 datagrams (a rack of VMs booting at once) while the loop catches up. */
export const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024

const { setsockopt } = createRequire(import.meta.url)('sockopt') as { setsockopt: (socket: Socket, level: number, option: number, value: number) => void }

/** Pins a bound socket to one interface: it receives only what arrives there, and sends out of it. */
export function bindToInterface(socket: Socket, ifindex: number): void {
  setsockopt(socket, SOL_SOCKET, SO_BINDTOIFINDEX, ifindex)
}

/** A receive buffer above net.core.rmem_max, which root may set (FORCE). */
export function forceReceiveBuffer(socket: Socket): void {
  setsockopt(socket, SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER_BYTES)
}
