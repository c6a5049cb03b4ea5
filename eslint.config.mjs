// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// Node's CommonJS globals, declared here rather than through the `globals` package: the plain JS
// linted (the config files and deploy/'s dependency-free sample receiver) uses only these.
const nodeCommonJsGlobals = {
  module: 'writable',
  require: 'readonly',
  process: 'readonly',
  __dirname: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
};

export default defineConfig(
  {
    // Build output and the bench's results are not sources. public/ is the status page's browser
    // code, served as is: it is checked in a real browser by test/browser, not here.
    ignores: ['dist/**', 'dist-bench/**', 'coverage/**', 'bench/results/**', 'public/**'],
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // tsconfig.json includes src/, test/ and bench/, so every linted .ts file has a program.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose: Express knows an error
      // handler only by its four parameters (`_next`), and `const { db: _db, ...rest } = o` drops a key.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // better-sqlite3 is synchronous, and the SQLite store implements the async Store interface with
    // `async` methods that have nothing to await: `async` is what turns a thrown SqliteError or
    // StoreUnavailableError into the rejection every caller handles. Dropping it, as this rule asks,
    // would make those methods throw synchronously instead.
    files: ['src/store/sqlite/**/*.ts'],
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  {
    // In test files, `any` comes from the libraries, not from us: supertest types `res.body` as any,
    // and jest's asymmetric matchers (`expect.any(Number)`, `expect.objectContaining(…)`) return any.
    // Reading a wrong shape there fails the assertion at run time, so these four rules would only ask
    // for casts that prove nothing. no-unsafe-return stays on, and test/helpers/ (shared code whose
    // types other files rely on) keeps all five.
    files: ['test/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: nodeCommonJsGlobals },
  },
);
