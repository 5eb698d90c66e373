import type { CollectionItem, CollectionName, RouterConfig } from '../config.ts'

/**
 * Which items a check reports on. The whole document selects every item; an item edit selects
 * the edited item and the items whose diagnostics the edit can change (scope.ts), so a domain
 * check reports, for each selected item, exactly what the whole check reports at that item.
 */
export class Selection {
  private constructor(
    private readonly picked: ReadonlyMap<CollectionName, readonly number[]> | undefined,
    /** Whether the document-level defaultInterface field is checked. */
    readonly defaultInterface: boolean,
  ) {}

  static everything(): Selection {
    return new Selection(undefined, true)
  }

  static of(picked: ReadonlyMap<CollectionName, readonly number[]>, defaultInterface: boolean): Selection {
    return new Selection(picked, defaultInterface)
  }

  get whole(): boolean {
    return this.picked === undefined
  }

  /** The selected positions of `collection`, ascending. */
  positions(config: RouterConfig, collection: CollectionName): readonly number[] {
    return this.picked === undefined ? config[collection].map((_, i) => i) : this.picked.get(collection) ?? []
  }

  /** Calls `fn` for each selected item of `collection`, in document order. */
  each<C extends CollectionName>(config: RouterConfig, collection: C, fn: (item: CollectionItem<C>, index: number) => void): void {
    const items = config[collection] as CollectionItem<C>[]
    if (this.picked === undefined) {
      items.forEach(fn)
      return
    }
    for (const index of this.picked.get(collection) ?? []) {
      const item = items[index]
      if (item !== undefined) fn(item, index)
    }
  }
}

/** Collects the items an edit selects; `selection()` turns them into a Selection. */
export class Picks {
  private readonly items = new Map<CollectionName, Set<number>>()
  private defaultInterfacePicked = false

  item(collection: CollectionName, index: number): void {
    let set = this.items.get(collection)
    if (set === undefined) {
      set = new Set()
      this.items.set(collection, set)
    }
    set.add(index)
  }

  all(collection: CollectionName, indexes: Iterable<number>): void {
    for (const index of indexes) this.item(collection, index)
  }

  defaultInterface(): void {
    this.defaultInterfacePicked = true
  }

  selection(): Selection {
    const picked = new Map<CollectionName, number[]>()
    for (const [collection, set] of this.items) picked.set(collection, [...set].sort((a, b) => a - b))
    return Selection.of(picked, this.defaultInterfacePicked)
  }
}
