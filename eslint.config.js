// Type-aware linting (typescript-eslint): the rules that catch real bugs in async code first —
// promises nobody awaits or handles, promises passed where a callback's result is ignored.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'dist.*/',
      'data/',
      'logs/',
      '.tap/',
      '.llama-cpp/',
      '.portkey/',
      'bench/results/',
      'gateway/playground/',
      'bench/portkey/*.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `void p` is not an excuse: a promise left running gets a .catch() that says what a failure means.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          ignoreVoid: false,
          allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // fastify plugins and handlers are async by contract, awaiting or not.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Lines of at most 120 characters, prettier's width: prettier does not break long strings, so they are
    // split by hand (`'…' +`). A regex literal cannot be split; a URL need not be. Tests are exempt for now.
    // max-len is a deprecated core rule, available until ESLint 11 (then: @stylistic/max-len).
    ignores: ['test/**'],
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }],
    },
  },
  {
    // A getter or setter in an object literal, a class or a generator function made inside a function is new on
    // every call: V8 gives it a map or prototype of its own and keeps what it captured alive past every young
    // collection until a full one. Made per request, that kept each request alive and promoted it (BENCHMARKS.md,
    // "Garbage collection"). Module level (or a class member) instead; made once per process, say so where it is.
    files: ['gateway/**/*.ts', 'workers/**/*.ts', 'common/**/*.ts', 'bus-schemas/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...[
          ':function FunctionDeclaration[generator=true]',
          ':function FunctionExpression[generator=true]',
          ':function Property[kind=/^(get|set)$/]',
          ':function :matches(ClassDeclaration, ClassExpression)',
          // A class field's initializer runs once per instance.
          'PropertyDefinition Property[kind=/^(get|set)$/]',
          'PropertyDefinition FunctionExpression[generator=true]',
          'PropertyDefinition ClassExpression',
        ].map((selector) => ({
          selector,
          message:
            'Made per call, this keeps what it captures alive until a full GC (eslint.config.js): ' +
            'declare it at module level.',
        })),
      ],
    },
  },
  {
    // Tests and the benchmark read JSON answers of the system under test: `any` is their daily bread.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Kysely's documented migration pattern: migrations take Kysely<any>, since they must keep
    // working as the app's own table types move on.
    files: ['workers/memory/migrate.ts', 'workers/memory/migrations/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  // The build and its launcher are plain JavaScript (they run before anything is compiled).
  {
    files: ['scripts/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', setTimeout: 'readonly', URL: 'readonly' },
    },
  },
);
