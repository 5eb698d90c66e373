/**
 * Pure item-level edits of a document of collections (lists of items with ids). The document is
 * never mutated: the edited collection is copied (cheap: references only), the others are shared.
 */

/** A document holding collections (lists of items with ids), and maybe other fields. */
export type CollectionsDocument = object

/** The names of `D`'s fields that are collections. */
export type CollectionKey<D> = { [K in keyof D]-?: D[K] extends readonly { readonly id: string }[] ? K : never }[keyof D] & string

/** Pure. The document with item `id` of `collection` replaced by `item`, added, or (item null) removed. */
export function withItem<D extends CollectionsDocument>(doc: D, collection: CollectionKey<D>, id: string, item: { readonly id: string } | null): D {
  const items = doc[collection] as unknown as readonly { readonly id: string }[]
  const index = items.findIndex((x) => x.id === id)
  // One copy of the list each (10,000 references for 10,000 forwards), sized as it ends up.
  let next: { readonly id: string }[]
  if (index === -1 && item !== null) next = items.concat([item])
  else {
    next = items.slice()
    if (item !== null) next[index] = item
    else if (index !== -1) next.splice(index, 1)
  }
  return { ...doc, [collection]: next }
}
