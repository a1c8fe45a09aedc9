// Lint rules for the whole workspace. Type-aware typescript-eslint rules run on every project;
// Nx module-boundary tags keep the architecture's dependency direction (docs/architecture.md).
import nx from '@nx/eslint-plugin'
import tseslint from 'typescript-eslint'

// Exact module names (not patterns: a pattern 'http2' would also match './http2/...').
const NODE_BUILTINS = ['fs', 'fs/promises', 'net', 'http', 'http2', 'https', 'tls', 'dns', 'dgram', 'zlib', 'crypto', 'child_process', 'worker_threads', 'os', 'path']

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/generated/**', '.nx/**', '**/*.mjs', '**/*.cjs', '**/vitest.config.ts', 'vitest.shared.ts'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:lib'] },
            // Dissectors, KFL, packet decoding and reassembly run anywhere (worker, hub, tests):
            // they may not reach Node I/O, so they only depend on each other.
            { sourceTag: 'platform:pure', onlyDependOnLibsWithTags: ['platform:pure'] },
            // The hub never loads capture code; agents never load hub code.
            { sourceTag: 'scope:hub', notDependOnLibsWithTags: ['scope:agent'] },
            { sourceTag: 'scope:agent', notDependOnLibsWithTags: ['scope:hub'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      // `cap` is imported in exactly one file (the live capture source); see docs/architecture.md.
      'no-restricted-imports': ['error', { paths: [{ name: 'cap', message: 'Only apps/node-agent/src/capture/live-capture.ts may load cap.' }] }],
    },
  },
  {
    files: ['apps/node-agent/src/capture/live-capture.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['libs/{packet,reassembly,dissectors,kfl,wire}/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['node:*'], message: 'Pure libs must not use Node built-ins.' }],
          paths: ['cap', ...NODE_BUILTINS.map((name) => ({ name, message: 'Pure libs must not use Node built-ins.' }))],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'apps/e2e/src/**/*.ts'],
    rules: {
      // Tests of pure libs may use the Node test harness (real servers, tcpdump, tshark).
      '@nx/enforce-module-boundaries': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      // Tests read JSON answers whose shape is what they assert.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  }
)
