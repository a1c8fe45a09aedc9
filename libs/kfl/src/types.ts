import type { FieldType } from '@tapwire/dissectors'

/** Static types of KFL expressions. `dyn` is CEL's "checked at run time" (heterogeneous literals). */
export type KType =
  | {
      readonly k:
        'string' | 'int' | 'double' | 'bool' | 'null' | 'timestamp' | 'duration' | 'bytes' | 'dyn'
    }
  | { readonly k: 'list'; readonly elem: KType }
  | { readonly k: 'map'; readonly key: KType; readonly value: KType }

export const T = Object.freeze({
  string: { k: 'string' },
  int: { k: 'int' },
  double: { k: 'double' },
  bool: { k: 'bool' },
  null: { k: 'null' },
  timestamp: { k: 'timestamp' },
  duration: { k: 'duration' },
  bytes: { k: 'bytes' },
  dyn: { k: 'dyn' },
} as const satisfies Record<string, KType>)

export const listOf = (elem: KType): KType => ({ k: 'list', elem })
export const mapOf = (key: KType, value: KType): KType => ({ k: 'map', key, value })

export function fromFieldType(t: FieldType): KType {
  switch (t) {
    case 'list<string>':
      return listOf(T.string)
    case 'map<string,string>':
      return mapOf(T.string, T.string)
    case 'string':
    case 'int':
    case 'double':
    case 'bool':
    case 'timestamp':
    case 'duration':
    case 'bytes':
      return T[t]
  }
}

export function typeName(t: KType): string {
  if (t.k === 'list') return `list<${typeName(t.elem)}>`
  if (t.k === 'map') return `map<${typeName(t.key)},${typeName(t.value)}>`
  return t.k
}

export const isNumeric = (t: KType): boolean => t.k === 'int' || t.k === 'double'

export function sameType(a: KType, b: KType): boolean {
  if (a.k !== b.k) return false
  if (a.k === 'list' && b.k === 'list') return sameType(a.elem, b.elem)
  if (a.k === 'map' && b.k === 'map') return sameType(a.key, b.key) && sameType(a.value, b.value)
  return true
}

/** Whether values of the two types may be compared with `==` (CEL compares int and double). */
export function comparable(a: KType, b: KType): boolean {
  if (a.k === 'dyn' || b.k === 'dyn') return true
  if (isNumeric(a) && isNumeric(b)) return true
  if (a.k === 'list' && b.k === 'list') return comparable(a.elem, b.elem)
  if (a.k === 'map' && b.k === 'map')
    return comparable(a.key, b.key) && comparable(a.value, b.value)
  return a.k === b.k
}

/** The type of a literal holding values of both types: the common type, else dyn. */
export const join = (a: KType, b: KType): KType => (sameType(a, b) ? a : T.dyn)

export const EMPTY_LIST: readonly unknown[] = Object.freeze([])
export const EMPTY_MAP: ReadonlyMap<unknown, unknown> = new Map()

/** What an absent variable or a missing map key reads as. */
export function defaultValue(t: KType): unknown {
  switch (t.k) {
    case 'string':
    case 'bytes':
      return ''
    case 'int':
    case 'double':
    case 'timestamp':
    case 'duration':
      return 0
    case 'bool':
      return false
    case 'list':
      return EMPTY_LIST
    case 'map':
      return EMPTY_MAP
    case 'null':
    case 'dyn':
      return null
  }
}
