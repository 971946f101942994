// ESLint (flat config) with typescript-eslint: lint rules only, no
// formatting rules (layout is .editorconfig's and, for C/C++,
// .clang-format's).  `npm run test:lint`.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'dist/', 'build/', 'build-*/', 'prebuilds/', 'coverage/', 'docs/api/',
      'node_modules/', 'model/',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: {
        // Node's globals, as the code uses them.
        process: 'readonly', console: 'readonly', Buffer: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly',
        clearInterval: 'readonly', setImmediate: 'readonly', clearImmediate: 'readonly',
        queueMicrotask: 'readonly', performance: 'readonly', structuredClone: 'readonly',
        AbortController: 'readonly', AbortSignal: 'readonly', SharedArrayBuffer: 'readonly',
        Atomics: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly',
        globalThis: 'readonly', __dirname: 'readonly', __filename: 'readonly',
        require: 'readonly', module: 'writable', exports: 'writable', gc: 'readonly',
        NodeJS: 'readonly', WeakRef: 'readonly', FinalizationRegistry: 'readonly',
        DOMException: 'readonly', Event: 'readonly', EventTarget: 'readonly',
      },
    },
    rules: {
      // A `let` assigned once after a closure that reads it was made (a
      // handle filled in once a worker answers) cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // CommonJS scripts (and nothing else) use require().
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
