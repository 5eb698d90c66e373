import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../../../core/files/atomic.ts'

/**
 * The passwords waiting for their VMs, by network and address. Write-only from the control API
 * and never part of the config: not in GET /v1/config, not in the config journal, not brought
 * back by a full PUT. Kept in their own 0600 file, replaced whole and fsynced at every change,
 * so a password set is there after a crash until its VM acknowledges it, and an acknowledged
 * one is gone for good (CloudStack keeps them until the VM saves them, then deletes).
 */

const FILE = 'passwords.json'
const VERSION = 1

export class PasswordStore {
  private readonly pending = new Map<string, string>()
  private readonly path: string

  constructor(stateDir: string) {
    this.path = join(stateDir, FILE)
  }

  open(): void {
    if (!existsSync(this.path)) return
    const stored = JSON.parse(readFileSync(this.path, 'utf8')) as { version: number; pending: [string, string][] }
    if (stored.version !== VERSION) throw new Error(`${this.path}: unknown version ${stored.version}`)
    for (const [key, password] of stored.pending) this.pending.set(key, password)
  }

  get(network: string, ip: string): string | undefined {
    return this.pending.get(key(network, ip))
  }

  set(network: string, ip: string, password: string): void {
    this.pending.set(key(network, ip), password)
    this.save()
  }

  /** Whether there was one. */
  delete(network: string, ip: string): boolean {
    if (!this.pending.delete(key(network, ip))) return false
    this.save()
    return true
  }

  /**
   * Drops, in one save, every pending password `keep` refuses; the dropped ones' network and
   * address. The file is written first: if that fails nothing is dropped, in memory or on disk.
   */
  retain(keep: (network: string, ip: string) => boolean): { network: string; ip: string }[] {
    const dropped = [...this.pending.keys()].map((k) => k.split(' ') as [string, string]).filter(([network, ip]) => !keep(network, ip))
    if (dropped.length === 0) return []
    const gone = new Set(dropped.map(([network, ip]) => key(network, ip)))
    this.write([...this.pending].filter(([k]) => !gone.has(k)))
    for (const k of gone) this.pending.delete(k)
    return dropped.map(([network, ip]) => ({ network, ip }))
  }

  get size(): number {
    return this.pending.size
  }

  private save(): void {
    this.write([...this.pending])
  }

  private write(pending: [string, string][]): void {
    writeFileAtomic(this.path, JSON.stringify({ version: VERSION, pending }))
  }
}

function key(network: string, ip: string): string {
  return `${network} ${ip}`
}
