import { cidrContains, type Cidr } from '../../../core/ipv4.ts'
import type { CollectionItem, CollectionName, InterfaceSpec, RouterConfig } from '../config.ts'
import type { HostFacts } from '../facts.ts'
import {
  indexConnected, indexGuestNetworks, indexInterfaceIds, indexLinks, indexOwnAddresses, indexPublicIps, indexPublicIpsByInterface, indexRouteCidrs,
  type GuestNetworkSection, type LinkSection, type OwnAddressSection, type PublicIpEntry, type PublicIpSection, type Sections,
} from './sections.ts'
import type { ParsedNetwork } from './fields.ts'

/**
 * One index of a config document, read by every domain check: items found by key, and the
 * sections of sections.ts (CIDRs and addresses parsed once, the addresses the router holds, the
 * networks it is connected to). Each section is built on first use, so checking one item builds
 * only what that item can conflict with, and `work` counts the document items visited doing so:
 * the cost of a check, which tests compare (a count does not depend on the machine, a time does).
 */

/** A way to find items of one collection by a text key (items without a key are skipped). */
export interface Key<C extends CollectionName> {
  collection: C
  of: (item: CollectionItem<C>, index: number, ix: ConfigIndex) => string | undefined
}

/** A key's lookups so far, and once asked twice its table: first position per key, and per item the first sharing its key (-1: none). */
interface Lookup { lookups: number; table?: { map: Map<string, number>; firstOf: Int32Array } }

export class ConfigIndex {
  /** Document items visited building sections and answering lookups. */
  work = 0
  /** Per key (by identity: keys are module constants). */
  private readonly lookups = new Map<Key<CollectionName>, Lookup>()
  /** The sections built so far (sections.ts). */
  private readonly sections: Sections = {}

  constructor(readonly config: RouterConfig, readonly facts: HostFacts | undefined) {}

  /** Calls `fn` for every item of `collection`, counting the visits. */
  scan<C extends CollectionName>(collection: C, fn: (item: CollectionItem<C>, index: number) => void): void {
    const items = this.config[collection] as CollectionItem<C>[]
    this.work += items.length
    items.forEach(fn)
  }

  /** Positions (from `from` on) of the items of `collection` that pass `test`. */
  where<C extends CollectionName>(collection: C, test: (item: CollectionItem<C>, index: number) => boolean, from = 0): number[] {
    const items = this.config[collection] as CollectionItem<C>[]
    const out: number[] = []
    for (let index = from; index < items.length; index++) {
      this.work++
      if (test(items[index] as CollectionItem<C>, index)) out.push(index)
    }
    return out
  }

  /** Position of the first item of the key's collection whose key is `value`, or undefined. */
  first<C extends CollectionName>(key: Key<C>, value: string): number | undefined {
    const table = this.tableOf(key)
    if (table !== undefined) return table.map.get(value)
    const items = this.config[key.collection] as CollectionItem<C>[]
    for (let index = 0; index < items.length; index++) {
      this.work++
      if (key.of(items[index] as CollectionItem<C>, index, this) === value) return index
    }
    return undefined
  }

  /**
   * Position of the first item with the same key as the item at `index`: `index` itself when no
   * earlier item shares it; undefined when that item has no key.
   */
  firstSharing<C extends CollectionName>(key: Key<C>, index: number): number | undefined {
    const table = this.tableOf(key)
    if (table !== undefined) {
      const first = table.firstOf[index]
      return first === undefined || first < 0 ? undefined : first
    }
    const items = this.config[key.collection] as CollectionItem<C>[]
    const item = items[index]
    const value = item === undefined ? undefined : key.of(item, index, this)
    if (value === undefined) return undefined
    for (let j = 0; j < index; j++) {
      this.work++
      if (key.of(items[j] as CollectionItem<C>, j, this) === value) return j
    }
    return index
  }

  /**
   * The key's table, built at its second use: one edited item asks a key once or twice and a
   * scan is cheaper; a whole check asks for every item, and then each key text is made once.
   */
  private tableOf<C extends CollectionName>(key: Key<C>): Lookup['table'] {
    const id = key as unknown as Key<CollectionName>
    let lookup = this.lookups.get(id)
    if (lookup === undefined) {
      lookup = { lookups: 0 }
      this.lookups.set(id, lookup)
    }
    if (lookup.table === undefined && lookup.lookups++ > 0) {
      const map = new Map<string, number>()
      const firstOf = new Int32Array(this.config[key.collection].length).fill(-1)
      this.scan(key.collection, (item, index) => {
        const k = key.of(item, index, this)
        if (k === undefined) return
        const first = map.get(k)
        if (first === undefined) map.set(k, index)
        firstOf[index] = first ?? index
      })
      lookup.table = { map, firstOf }
    }
    return lookup.table
  }

  /** Interfaces by id; with duplicate ids the last one (as `new Map(entries)` keeps). */
  get interfaceById(): Map<string, InterfaceSpec> {
    return this.sections.interfaceById ??= indexInterfaceIds(this)
  }

  /** Per interface, the host link it matches (undefined without facts or a match), and the first interface matching each link. */
  get links(): LinkSection {
    return this.sections.links ??= indexLinks(this)
  }

  get publicIps(): PublicIpSection {
    return this.sections.publicIps ??= indexPublicIps(this)
  }

  /** The accepted public IPs (byIp) of the interface with id `id`. */
  publicIpsOn(id: string): readonly PublicIpEntry[] {
    return (this.sections.publicIpsByInterface ??= indexPublicIpsByInterface(this)).get(id) ?? []
  }

  get guestNetworks(): GuestNetworkSection {
    return this.sections.guestNetworks ??= indexGuestNetworks(this)
  }

  /** The first network with a usable CIDR that contains `address`. */
  networkContaining(address: number): { index: number } | undefined {
    return this.guestNetworks.valid.find((n) => cidrContains(n.cidr, address))
  }

  get ownAddresses(): OwnAddressSection {
    return this.sections.ownAddresses ??= indexOwnAddresses(this)
  }

  /** The networks the router is connected to: usable guest networks, accepted public subnets, interface addresses. */
  get connected(): readonly Cidr[] {
    return this.sections.connected ??= indexConnected(this)
  }

  /** Per static route, its network or why its CIDR names none. */
  get routeCidrs(): readonly ParsedNetwork[] {
    return this.sections.routeCidrs ??= indexRouteCidrs(this)
  }
}
