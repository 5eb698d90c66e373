import { COLLECTION_NAMES, type CollectionName } from '../config.ts'
import { editedValues, type DomainCheck } from './domain.ts'
import type { Key } from './index.ts'

/** Ids: each once per collection; the second and later items with an id are reported (ERR_DUPLICATE_ID). */

const BY_ID = Object.fromEntries(COLLECTION_NAMES.map((collection) => {
  const key: Key<CollectionName> = { collection, of: (item) => item.id }
  return [collection, key]
})) as Record<CollectionName, Key<CollectionName>>

export const ids: DomainCheck = {
  check(ix, push, only) {
    // In the document's key order, as the collections are listed.
    for (const [name, items] of Object.entries(ix.config)) {
      if (!Array.isArray(items)) continue
      const collection = name as CollectionName
      only.each(ix.config, collection, (item, index) => {
        const first = ix.firstSharing(BY_ID[collection], index)
        if (first !== index) push(`/${collection}/${index}/id`, 'ERR_DUPLICATE_ID', `id "${item.id}" is already used by /${collection}/${first}`)
      })
    }
  },
  affected(ix, edit, picks) {
    // Only later items can change: the first with an id stays first unless it is the edited one.
    const edited = editedValues(edit, edit.collection, (item) => item.id)
    picks.all(edit.collection, ix.where(edit.collection, (item) => edited.includes(item.id), edit.index))
  },
}
