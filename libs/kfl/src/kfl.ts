import { FIELD_CATALOGUE } from '@tapwire/dissectors'
import type { CatalogueField } from '@tapwire/dissectors'
import type { Entry } from '@tapwire/wire'
import type { Expr } from './ast.js'
import { check } from './checker.js'
import { buildClosure, protocolHint } from './compiler.js'
import { KflError } from './errors.js'
import { parse } from './parser.js'
import { fromFieldType } from './types.js'
import type { KType } from './types.js'

export interface CompileOptions {
  /** Clock for `now()`, read once at compile time (Unix ms). Defaults to Date.now. */
  readonly clock?: () => number
  /** Variables a filter may use; defaults to the dissectors' FIELD_CATALOGUE. */
  readonly catalogue?: readonly CatalogueField[]
  /**
   * Called when evaluating one entry fails (integer division by zero, index out of range...);
   * the entry then does not match. For diagnostics and tests.
   */
  readonly onEvalError?: (error: unknown, entry: Entry) => void
}

export interface CompiledFilter {
  readonly source: string
  /** True when the entry matches. Never throws. */
  readonly predicate: (entry: Entry) => boolean
  /** The parsed filter; null for an empty filter (which matches everything). */
  readonly ast: Expr | null
  /** Catalogue variables the filter reads, aliases resolved, sorted. */
  readonly usedVariables: readonly string[]
  /** Lower-case protocol ids outside which the filter cannot match; undefined when any may. */
  readonly protocolHint: ReadonlySet<string> | undefined
}

const fieldMaps = new WeakMap<readonly CatalogueField[], ReadonlyMap<string, KType>>()

function fieldsOf(catalogue: readonly CatalogueField[]): ReadonlyMap<string, KType> {
  let m = fieldMaps.get(catalogue)
  if (m === undefined) {
    m = new Map(catalogue.map((f) => [f.name, fromFieldType(f.type)]))
    fieldMaps.set(catalogue, m)
  }
  return m
}

const matchAll = (): boolean => true

/**
 * Parses, type-checks and compiles a KFL filter into a predicate over entries.
 * @throws KflError (and only KflError) when the filter is invalid.
 */
export function compile(source: string, options: CompileOptions = {}): CompiledFilter {
  try {
    const ast = parse(source)
    if (ast === null)
      return { source, predicate: matchAll, ast, usedVariables: [], protocolHint: undefined }
    const now = (options.clock ?? Date.now)()
    const checked = check(ast, { fields: fieldsOf(options.catalogue ?? FIELD_CATALOGUE), now })
    const locals = new Array<unknown>(checked.slots).fill(null)
    const root = buildClosure(checked.ir, locals)
    const onError = options.onEvalError
    const predicate = (entry: Entry): boolean => {
      try {
        return root(entry) === true
      } catch (err) {
        onError?.(err, entry)
        return false
      }
    }
    return {
      source,
      predicate,
      ast,
      usedVariables: [...checked.used].sort(),
      protocolHint: protocolHint(checked.ir),
    }
  } catch (err) {
    // The parser bounds nesting, but a stack overflow must still surface as a filter error.
    if (err instanceof RangeError) {
      throw new KflError('KFL_TOO_COMPLEX', 'filter is too complex', [0, source.length])
    }
    throw err
  }
}
