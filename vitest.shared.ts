import { defineProject } from 'vitest/config'

/** The settings every project's tests share: sources resolved through the `@tapwire/source` condition. */
export function tapwireProject(
  name: string,
  overrides: { testTimeout?: number; fileParallelism?: boolean; groupOrder?: number } = {}
) {
  return defineProject({
    resolve: { conditions: ['@tapwire/source'] },
    ssr: { resolve: { conditions: ['@tapwire/source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts'],
      environment: 'node',
      testTimeout: overrides.testTimeout ?? 20_000,
      hookTimeout: 60_000,
      fileParallelism: overrides.fileParallelism ?? true,
      // Projects of a higher group run after the lower ones, alone (see apps/e2e).
      sequence: { groupOrder: overrides.groupOrder ?? 0 },
    },
  })
}
