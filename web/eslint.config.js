// ESLint flat config: typescript-eslint recommended + react-hooks (exhaustive-deps as an error).
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist', '**/dist', 'node_modules', 'test-results', 'playwright-report'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // React code; e2e/ is Playwright (whose fixtures call a `use` that is not a hook).
    files: [
      'src/**/*.{ts,tsx}',
      'test/**/*.{ts,tsx}',
      'packages/*/src/**/*.{ts,tsx}',
      'packages/*/test/**/*.{ts,tsx}',
      'examples/*/src/**/*.{ts,tsx}',
    ],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      'react-hooks/rules-of-hooks': 'error',
      'react-hooks/exhaustive-deps': 'error',
    },
  },
  {
    // Layering: the app reaches the socket only through @sotong/react (packages/react), and
    // only through its public entry, never its internals or the STOMP client itself. The
    // examples show the package's use, so they keep to the same rule.
    files: ['src/**/*.{ts,tsx}', 'examples/*/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@stomp/stompjs',
              message: 'Only @sotong/react speaks STOMP; use its hooks and provider.',
            },
          ],
          patterns: [
            {
              group: ['**/packages/react/**', '@sotong/react/*'],
              message: "Import the realtime layer as '@sotong/react', not its files.",
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        {
          name: 'WebSocket',
          message: 'The one connection is owned by @sotong/react; use its hooks and provider.',
        },
      ],
    },
  },
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: { globals: globals.node },
  },
);
