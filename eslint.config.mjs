// ESLint: type-aware rules on the service's code, the recommended set on tests and benchmarks.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `process.env` (or `process['env']`), however it is then used. */
const PROCESS_ENV = "MemberExpression[object.name='process']:matches([property.name='env'], [property.value='env'])";
const READ_IN_CONFIG = 'read settings in src/config.ts (an entry point may pass it process.env whole)';

export default tseslint.config(
  { ignores: ['dist/', 'dist-bench/', 'coverage/', 'bench/results/', '*.js', '*.mjs', '*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  },
  {
    // The playground's page script runs in the browser, as plain JavaScript.
    files: ['src/http/playground/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'fetch', 'sessionStorage', 'ace', 'atob', 'btoa', 'TextDecoder', 'TextEncoder', 'URL', 'Blob', 'AbortController'].map(
          (name) => [name, 'readonly'],
        ),
      ),
    },
  },
  {
    // Settings are read in src/config.ts and nowhere else. An entry point hands it the environment whole
    // (`loadConfig(process.env)`: see the next block); src/provision/host.ts runs host commands (apt-get, the
    // image build) in the host's own environment and finds them on its PATH, which are no runbox settings.
    files: ['src/**/*.ts'],
    ignores: ['src/config.ts', 'src/provision/host.ts'],
    rules: { 'no-restricted-syntax': ['error', { selector: PROCESS_ENV, message: READ_IN_CONFIG }] },
  },
  {
    // The programs (runbox, npm run provision) may pass process.env itself to a function of src/config.ts.
    files: ['src/main.ts', 'src/cli/**/*.ts', 'src/provision/cli.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: `${PROCESS_ENV}:not(CallExpression > .arguments)`, message: READ_IN_CONFIG }],
    },
  },
  {
    rules: {
      // `_name` marks a deliberately unused binding (destructuring something away, an ignored argument).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
