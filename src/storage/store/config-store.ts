import { DocumentStore } from '../../core/store/document-store.ts'
import { emptyStorageConfig, STORAGE_COLLECTION_NAMES, type StorageConfig } from '../model/config.ts'

/** storaged's desired state on disk: the shared document store (core/store/document-store.ts) holding the stores. */
export class StorageConfigStore extends DocumentStore<StorageConfig> {
  constructor(dir: string) {
    super(dir, { collections: STORAGE_COLLECTION_NAMES, empty: emptyStorageConfig })
  }
}
