import { describe, expect, it } from 'vitest'
import { FlagError } from '@tapwire/wire'
import { loadHubConfig } from './config.js'

describe('hub config: --store-max-bytes', () => {
  it('defaults to 1 GiB and takes sizes from the flag or HUB_STORE_MAX_BYTES', () => {
    expect(loadHubConfig([], {}).storeMaxBytes).toBe(1024 ** 3)
    expect(loadHubConfig(['--store-max-bytes', '512MiB'], {}).storeMaxBytes).toBe(512 * 1024 ** 2)
    expect(loadHubConfig([], { HUB_STORE_MAX_BYTES: '2GiB' }).storeMaxBytes).toBe(2 * 1024 ** 3)
  })

  it('refuses a bound too small to hold anything, and a non-size', () => {
    expect(() => loadHubConfig(['--store-max-bytes', '64KiB'], {})).toThrow(FlagError)
    expect(() => loadHubConfig(['--store-max-bytes', 'lots'], {})).toThrow(FlagError)
  })
})
