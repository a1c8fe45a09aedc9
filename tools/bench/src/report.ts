import { readFileSync, writeFileSync } from 'node:fs'

/**
 * Replaces the block between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in BENCHMARKS.md,
 * so each benchmark rewrites only its own table and the prose around it stays.
 */
export function replaceSection(file: string, name: string, body: string): void {
  const text = readFileSync(file, 'utf8')
  const open = `<!-- bench:${name} -->`
  const close = `<!-- /bench:${name} -->`
  const a = text.indexOf(open)
  const b = text.indexOf(close)
  if (a < 0 || b < a) throw new Error(`BENCHMARKS.md has no ${open} … ${close} block`)
  writeFileSync(file, `${text.slice(0, a + open.length)}\n${body.trim()}\n${text.slice(b)}`)
}

export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
