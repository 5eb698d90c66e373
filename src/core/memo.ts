/**
 * Values computed once per object: for values derived only from an object that is never
 * mutated (an edit replaces it), so a remembered value can never go stale.
 */

/**
 * Pure (given a pure `compute`). `compute` memoized by the identity of its argument. The value
 * is kept on the object itself under a private symbol: a property read costs less than a
 * WeakMap lookup on paths that ask for 10,000 items per rendering, and the value goes with the
 * object. Not enumerable, so JSON and spread copies (which may then be changed) never see or
 * inherit it. A frozen object cannot carry it: its value is computed each time.
 */
export function memoize<K extends object, V>(compute: (key: K) => V): (key: K) => V {
  const slot = Symbol('memo')
  return (key) => {
    let value = (key as { [slot]?: V })[slot]
    if (value === undefined) {
      value = compute(key)
      if (Object.isExtensible(key)) Object.defineProperty(key, slot, { value, enumerable: false })
    }
    return value
  }
}
