import { withItem as withDocumentItem } from '../../core/store/items.ts'
import type { CollectionItem, CollectionName, RouterConfig } from './config.ts'

/** Pure item-level edits of routerd's config document, typed by collection (core/store/items.ts does the work). */

export function findItem<C extends CollectionName>(config: RouterConfig, collection: C, id: string): CollectionItem<C> | undefined {
  return (config[collection] as CollectionItem<C>[]).find((item) => item.id === id)
}

/** Pure. The config with item `id` of `collection` replaced by `item`, added, or (item null) removed. */
export function withItem<C extends CollectionName>(config: RouterConfig, collection: C, id: string, item: CollectionItem<C> | null): RouterConfig {
  return withDocumentItem(config, collection, id, item)
}
