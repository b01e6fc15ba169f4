/** Whether two lists of Automerge heads name the same changes (in any order). */
export function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  const s = new Set(a)
  return b.every(h => s.has(h))
}
