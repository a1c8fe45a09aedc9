import { tapwireProject } from '../../vitest.shared.ts'

export default tapwireProject('cli', { testTimeout: 120_000, fileParallelism: false })
