//! Vite config of the example. Inside this repository `@sotong/react` resolves to the
//! package's sources (no package build needed); an app of your own installs the package and
//! drops the alias.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { '@sotong/react': fileURLToPath(new URL('../../packages/react/src/index.ts', import.meta.url)) },
  },
  server: { port: 5174 },
  preview: { port: 4174 },
  build: { outDir: 'dist', emptyOutDir: true },
});
