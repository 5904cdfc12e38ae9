//! Vite config: the dev server proxies the API and the WebSocket to a local sotong
//! (`sotong serve --allowed-origins http://localhost:5173`), the build goes to `dist/`
//! (served by `sotong serve --web-dir web/dist`), and Vitest runs the unit tests in jsdom.
//! `@sotong/react` resolves to the package's sources, so the app and the package change
//! together without a package build in between.
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

const backend = process.env.SOTONG_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { '@sotong/react': fileURLToPath(new URL('./packages/react/src/index.ts', import.meta.url)) },
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: backend, changeOrigin: true },
      '/ws': { target: backend, ws: true, changeOrigin: true },
    },
  },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  test: {
    environment: 'jsdom',
    include: ['test/**/*.test.{ts,tsx}'],
    setupFiles: ['test/setup.ts'],
  },
});
