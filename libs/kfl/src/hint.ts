/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions (`stauts`). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array<number>(rows * cols).fill(0)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(
        d[(i - 1) * cols + j]! + 1,
        d[i * cols + j - 1]! + 1,
        d[(i - 1) * cols + j - 1]! + cost
      )
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1)
      }
      d[i * cols + j] = v
    }
  }
  return d[rows * cols - 1]!
}

/** The closest candidate, if it is close enough to be a plausible typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase()
  const budget = Math.max(1, Math.floor(word.length / 3))
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    // Case-only and separator-only differences (`statusCode`, `status-code`) count as one edit.
    const normalized =
      c.replace(/[_.]/g, '').toLowerCase() === lower.replace(/[_.\-]/g, '') ? 1 : Infinity
    const dist = Math.min(normalized, editDistance(lower, c.toLowerCase()))
    if (
      dist < bestDistance ||
      (dist === bestDistance && best !== undefined && c.length < best.length)
    ) {
      best = c
      bestDistance = dist
    }
  }
  return bestDistance <= budget ? best : undefined
}

export const didYouMean = (word: string, candidates: Iterable<string>): string | undefined => {
  const c = closest(word, candidates)
  return c === undefined ? undefined : `did you mean ${c}?`
}
