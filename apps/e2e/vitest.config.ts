import { tapwireProject } from '../../vitest.shared.ts'

// End-to-end suites start real servers, capture on loopback and build network namespaces: one
// file at a time, and only after every other project has finished (no CPU contention with them).
export default tapwireProject('e2e', { testTimeout: 180_000, fileParallelism: false, groupOrder: 1 })
