import { describe, expect, it } from 'vitest'
import { FlagError } from '@tapwire/wire'
import { loadAgentConfig } from './config.js'

const load = (argv: string[], env: NodeJS.ProcessEnv = {}) => loadAgentConfig(argv, env)

describe('agent L4 entry flags', () => {
  it('publishes L4 entries every 30 s by default', () => {
    const c = load([])
    expect([c.l4Entries, c.l4IntervalMs]).toEqual([true, 30_000])
  })

  it('turns them off by flag or environment, and the last flag wins', () => {
    expect(load(['--l4-entries=false']).l4Entries).toBe(false)
    expect(load([], { L4_ENTRIES: 'false' }).l4Entries).toBe(false)
    expect(load(['--l4-entries=false', '--l4-entries']).l4Entries).toBe(true)
    expect(load(['--l4-interval', '5s']).l4IntervalMs).toBe(5000)
    expect(load([], { L4_INTERVAL: '2m' }).l4IntervalMs).toBe(120_000)
  })

  it('rejects values it cannot honour', () => {
    expect(() => load(['--l4-entries=no'])).toThrow(FlagError)
    expect(() => load(['--l4-interval', '100ms'])).toThrow(/from 1s to 3600s/)
    expect(() => load(['--l4-interval', '2h'])).toThrow(FlagError)
    expect(() => load(['--l4-interval', 'soon'])).toThrow(FlagError)
  })
})
