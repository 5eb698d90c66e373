import { readFileSync } from 'node:fs'

/**
 * The only I/O of src/boot: reading the boot line. On KVM qemu-guest-agent writes the
 * management server's line to /var/cache/cloud/cmdline; elsewhere (and under `qemu -append`) it
 * is the kernel's /proc/cmdline.
 */

export const BOOT_LINE_PATHS = { cache: '/var/cache/cloud/cmdline', proc: '/proc/cmdline' } as const

export interface BootLineSource {
  /** The file the line came from. */
  path: string
  text: string
}

/**
 * Reads the boot line: `cache` when it exists and holds anything but whitespace, else `proc`.
 * Throws the file system's error when `proc` cannot be read (or `cache` fails other than by not existing).
 */
export function readBootLine(paths: { cache: string; proc: string } = BOOT_LINE_PATHS): BootLineSource {
  let cached: string | undefined
  try {
    cached = readFileSync(paths.cache, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (cached !== undefined && cached.trim() !== '') return { path: paths.cache, text: cached }
  return { path: paths.proc, text: readFileSync(paths.proc, 'utf8') }
}
