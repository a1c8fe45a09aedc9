import type { Attr } from '@tapwire/wire'

// Attr constructors: KFL reads `str`, `num`, `flag` and `list` by the catalogue's declared type.
export const str = (name: string, value: string): Attr => ({ name, str: value })
export const num = (name: string, value: number): Attr => ({ name, num: value })
export const flag = (name: string, value: boolean): Attr => ({ name, flag: value })
export const list = (name: string, values: string[]): Attr => ({ name, list: { values } })
