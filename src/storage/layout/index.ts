/**
 * The on-disk layout of a CloudStack image store (secondary storage), for storaged: where a
 * store is mounted, where each install goes and what its properties file says, all
 * compatible with CloudStack's SSVM; plus the path checks every file access goes through.
 */
export { IMAGE_FORMAT_EXTENSIONS, isImageFormatExtension, type ImageFormatExtension } from './image-formats.ts'
export { checkEntityId, checkFileName, checkUuid } from './identifiers.ts'
export { javaNameUuid } from './name-uuid.ts'
export {
  downloadTempName, installFileName, isDownloadTempName, javaHostAddress, mountDirectoryName, mountIdentity,
  mountPointFor, SEC_STORAGE_PARENT, snapshotDir, templateInstallDir, volumeInstallDir,
  type InstallNameInput,
} from './paths.ts'
export { formatJavaDate, parseProperties, renderProperties, type RenderPropertiesOptions } from './properties.ts'
export { openInStore, openResolvedInStore, PathOutsideStoreError, resolveInStore, splitStorePath } from './safe-path.ts'
export {
  propertiesFileName, readInstallProperties, renderInstallProperties,
  type InstallKind, type InstallPropertiesReading, type InstallRecord, type NotInstalledReason, type RenderInstallOptions,
} from './template-properties.ts'
