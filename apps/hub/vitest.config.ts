import { tapwireProject } from '../../vitest.shared.ts'

export default tapwireProject('hub', { testTimeout: 120_000, fileParallelism: false })
