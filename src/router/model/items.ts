import type { CollectionItem, CollectionName, RouterConfig } from './config.ts'

/**
 * Pure item-level edits of a config document. The document is never mutated: the edited
 * collection is copied (cheap: references only), the others are shared.
 */

export function findItem<C extends CollectionName>(config: RouterConfig, collection: C, id: string): CollectionItem<C> | undefined {
  return (config[collection] as CollectionItem<C>[]).find((item) => item.id === id)
}

/** Pure. The config with item `id` of `collection` replaced by `item`, added, or (item null) removed. */
export function withItem<C extends CollectionName>(config: RouterConfig, collection: C, id: string, item: CollectionItem<C> | null): RouterConfig {
  const items = config[collection] as CollectionItem<C>[]
  const index = items.findIndex((x) => x.id === id)
  // One copy of the list each (10,000 references for 10,000 forwards), sized as it ends up.
  let next: CollectionItem<C>[]
  if (index === -1 && item !== null) next = items.concat([item])
  else {
    next = items.slice()
    if (item !== null) next[index] = item
    else if (index !== -1) next.splice(index, 1)
  }
  return { ...config, [collection]: next }
}
