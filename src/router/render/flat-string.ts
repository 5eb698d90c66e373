/**
 * Returns `text` unchanged in value but stored flat. A string built by concatenation is a tree
 * of pieces (32 bytes per join plus the pieces); rule text kept for 10,000 items as trees costs
 * about a third more memory than the same text flat. Reading a character makes V8 flatten the
 * tree in place, and the next young-generation collection drops the tree's nodes.
 */
export function flat(text: string): string {
  text.charCodeAt(0)
  return text
}
