/**
 * The CloudStack boot line: space-separated `key=value` words, as the management server builds
 * them (VirtualNetworkApplianceManagerImpl, SecondaryStorageManagerImpl) and the appliance's
 * `setup/common.sh parse_cmd_line` reads them. Pure.
 *
 * Decisions, each against CloudStack's own reader:
 * - A value is everything after the first `=`. CloudStack's reader keeps only what lies between
 *   the first and second `=` (`cut -d= -f2`), which cuts the base64 padding off `authorized_key`;
 *   we keep it whole.
 * - A repeated key: the last one wins, as in CloudStack (each word re-exports its variable, and
 *   the duplicate key in cmd_line.json is read last-wins by Python's json).
 * - A word without `=` (the kernel's own `ro`, `quiet` on /proc/cmdline) is kept as a key with an
 *   empty value, so it is present but never a usable value. A word with an empty key is dropped.
 * - No quoting: the management server never quotes, and a value never holds a space.
 */

/** The boot line's keys, in first-seen order, each with its last value. */
export type BootKeys = ReadonlyMap<string, string>

/** Pure. Parses a boot line (any whitespace separates words; a trailing newline is fine). */
export function parseBootLine(text: string): BootKeys {
  const keys = new Map<string, string>()
  for (const word of text.split(/\s+/)) {
    if (word === '') continue
    const eq = word.indexOf('=')
    const key = eq < 0 ? word : word.slice(0, eq)
    if (key === '') continue
    keys.set(key, eq < 0 ? '' : word.slice(eq + 1))
  }
  return keys
}
